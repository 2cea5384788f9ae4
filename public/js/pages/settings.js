// Settings: profile, signed-in devices, password, notification preferences, who may start a conversation with me, blocked members, deleting the account.
import { get, patch, put, post, del, itemsOf } from '../lib/api.js?v=a3375f7ce6';
import { $, fill, ago, say } from '../lib/dom.js?v=ad30dd5a83';
import { boot } from '../lib/shell.js?v=6cda7338a8';
import { nameOf } from '../lib/names.js?v=a617f22254';
import { announceBlocksChanged } from '../lib/blocks.js?v=9d35ceb8f1';

const { me, rt, signingOutHere } = await boot();

// Profile
const profile = $('#profile');
profile.displayName.value = me.displayName ?? '';
profile.bio.value = me.bio ?? '';
// Limits count characters as members see them (an emoji is one), as the api does. The fields have
// no maxlength: the browser's counts UTF-16 units and cut pasted emoji in half without a word.
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const characters = (text) => [...graphemes.segment(text.trim())].length;
function tooLong(field, label) {
  const max = Number(field.dataset.maxChars);
  const n = characters(field.value);
  return n > max ? `${label} can be at most ${max} characters (it has ${n}).` : null;
}

profile.addEventListener('submit', async (e) => {
  e.preventDefault();
  const s = $('#profile-status');
  for (const field of [profile.displayName, profile.bio]) field.removeAttribute('aria-invalid');
  // the field a refusal is about: marked, and where the member's next keystroke goes
  const refuse = (message, field) => {
    say(s, message, true);
    if (!field) return;
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  };
  for (const [field, label] of [[profile.displayName, 'Display name'], [profile.bio, 'About you']]) {
    const problem = tooLong(field, label);
    if (problem) return refuse(problem, field);
  }
  try {
    await patch('/api/me/profile', { displayName: profile.displayName.value, bio: profile.bio.value });
    say(s, 'Saved.');
  } catch (err) {
    refuse(err.message, /displayName/.test(err.code ?? '') ? profile.displayName : /bio/.test(err.code ?? '') ? profile.bio : null);
  }
});

// Sessions
function device(ua = '') {
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom/.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac OS/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}
async function loadSessions() {
  const list = $('#sessions');
  try {
    const r = await get('/api/me/sessions');
    list.replaceChildren(...itemsOf(r, 'sessions').map((s) => {
      const li = fill('t-session', { what: device(s.userAgent), when: `Active ${ago(s.lastSeenAt)}${s.ip ? ' · ' + s.ip : ''}` });
      li.classList.toggle('current', !!s.current);
      const btn = li.querySelector('button');
      btn.setAttribute('aria-label', `End the session of ${device(s.userAgent)}`);
      btn.addEventListener('click', async () => {
        try {
          await del('/api/me/sessions/' + encodeURIComponent(s.id));
          if (s.current) location.replace('/');
          else li.remove();
        } catch (err) {
          say($('#sessions-status'), err.message, true);
        }
      });
      return li;
    }));
  } catch (err) {
    say($('#sessions-status'), err.message, true);
  }
}
$('#logout-all').addEventListener('click', async () => {
  if (!confirm('Sign out on every device, this one included?')) return;
  try {
    signingOutHere();
    await post('/api/auth/logout-all');
    // what this browser still had to send is not left behind on a shared computer
    rt.signOut();
    location.replace('/');
  } catch (err) {
    say($('#sessions-status'), err.message, true);
  }
});

// Notification preferences: the api's settings object, one checkbox per type.
const LABELS = { follow: 'New followers', message: 'Messages while I am away', profile_view: 'Profile views', reaction: 'Reactions', broadcast: 'Announcements' };
// (members cannot post yet: the API's `post` type is not offered here)
const OFFERED = (type) => type !== 'post';
let prefShape = null;
/** muted types this page does not offer: saved as they were */
let keptMuted = [];
async function loadPrefs() {
  const box = $('#pref-list');
  try {
    const r = await get('/api/me/notification-settings');
    const settings = r?.settings ?? r ?? {};
    let entries;
    if (Array.isArray(settings.muted)) {
      prefShape = 'muted';
      const types = settings.types ?? Object.keys(LABELS);
      entries = types.filter(OFFERED).map((t) => [t, !settings.muted.includes(t)]);
      keptMuted = settings.muted.filter((t) => !OFFERED(t));
    } else {
      prefShape = 'map';
      entries = Object.entries(settings).filter(([, v]) => typeof v === 'boolean');
    }
    box.replaceChildren(...entries.map(([type, on]) => {
      const label = fill('t-pref', { label: LABELS[type] ?? type.replace(/_/g, ' ') });
      const input = label.querySelector('input');
      input.name = type;
      input.checked = on;
      return label;
    }));
  } catch (err) {
    $('#prefs').hidden = err.status === 404;
    say($('#prefs-status'), err.message, true);
  }
}
$('#prefs').addEventListener('submit', async (e) => {
  e.preventDefault();
  const inputs = [...$('#pref-list').querySelectorAll('input')];
  const body = prefShape === 'muted'
    ? { muted: [...inputs.filter((i) => !i.checked).map((i) => i.name), ...keptMuted] }
    : Object.fromEntries(inputs.map((i) => [i.name, i.checked]));
  try {
    await put('/api/me/notification-settings', body);
    say($('#prefs-status'), 'Saved.');
  } catch (err) {
    say($('#prefs-status'), err.message, true);
  }
});

// Password: a new one needs the current one; every other device is signed out
const passwordForm = $('#password');
passwordForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const s = $('#password-status');
  const fields = [passwordForm.currentPassword, passwordForm.newPassword];
  for (const field of fields) field.removeAttribute('aria-invalid');
  try {
    const r = await post('/api/me/password', { currentPassword: passwordForm.currentPassword.value, newPassword: passwordForm.newPassword.value });
    passwordForm.reset();
    const others = r.otherSessionsEnded ?? 0;
    say(s, others ? `Password changed. Signed out on ${others} other ${others === 1 ? 'device' : 'devices'}.` : 'Password changed.');
    void loadSessions();
  } catch (err) {
    say(s, err.message, true);
    const field = err.code === 'wrong_password' ? passwordForm.currentPassword : /password/.test(err.code ?? '') ? passwordForm.newPassword : null;
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }
});

// Deleting the account: asked twice (the password, then a confirmation)
const deletion = $('#delete-account');
deletion.addEventListener('submit', async (e) => {
  e.preventDefault();
  const s = $('#delete-status');
  deletion.password.removeAttribute('aria-invalid');
  if (!confirm('Delete your account and everything in it for good?')) return;
  try {
    signingOutHere();
    await del('/api/me', { password: deletion.password.value });
    rt.signOut();
    location.replace('/');
  } catch (err) {
    say(s, err.message, true);
    if (err.code === 'wrong_password') {
      deletion.password.setAttribute('aria-invalid', 'true');
      deletion.password.focus();
    }
  }
});

// Who may start a conversation with me
async function loadContact() {
  try {
    const r = await get('/api/me/contact-settings');
    for (const input of $('#contact').querySelectorAll('input[name="conversations"]')) input.checked = input.value === r.conversations;
  } catch (err) {
    say($('#contact-status'), err.message, true);
  }
}
$('#contact').addEventListener('submit', async (e) => {
  e.preventDefault();
  const chosen = $('#contact').querySelector('input[name="conversations"]:checked');
  if (!chosen) return say($('#contact-status'), 'Choose one first.', true);
  try {
    await put('/api/me/contact-settings', { conversations: chosen.value });
    say($('#contact-status'), 'Saved.');
  } catch (err) {
    say($('#contact-status'), err.message, true);
  }
});

// Blocked members
async function loadBlocks() {
  const list = $('#blocks');
  try {
    const items = itemsOf(await get('/api/me/blocks'));
    list.replaceChildren(...items.map((m) => {
      const li = fill('t-block', { name: `${nameOf(m)} (@${m.handle})` });
      li.querySelector('a').href = '/u/' + encodeURIComponent(m.handle);
      const btn = li.querySelector('button');
      btn.setAttribute('aria-label', `Unblock @${m.handle}`);
      btn.addEventListener('click', async () => {
        try {
          await del(`/api/users/${encodeURIComponent(m.handle)}/block`);
          announceBlocksChanged();
          li.remove();
          $('#no-blocks').hidden = list.children.length > 0;
        } catch {}
      });
      return li;
    }));
    $('#no-blocks').hidden = items.length > 0;
  } catch {}
}

await Promise.all([loadSessions(), loadPrefs(), loadContact(), loadBlocks()]);
