// Landing: sign in or create an account (18+ only).
import { get, post } from '../lib/api.js?v=a3375f7ce6';
import { say } from '../lib/dom.js?v=ad30dd5a83';
import { initTheme } from '../lib/theme.js?v=376900fe2c';
import { initPrefetch } from '../lib/prefetch.js?v=8545df2da1';

initTheme();
initPrefetch();

// Where to go after signing in: a page of this site only. Resolved as the browser will resolve it
// (it reads a slash followed by a backslash, a tab or a newline as two slashes: another host), kept
// only if it stays on this origin, and used as the absolute address it resolved to: a path alone
// could itself start with two slashes (a dot segment before them does that) and name a host again.
// A page left when a session ended (`for`: whose it was) is only for that member: on a shared
// computer the next person to sign in must not land on the previous one's conversation or profile.
const next = (userId) => {
  const q = new URLSearchParams(location.search);
  const n = q.get('next');
  if (!n || (q.has('for') && q.get('for') !== userId)) return '/conversations';
  try {
    const url = new URL(n, location.origin);
    return url.origin === location.origin ? url.href : '/conversations';
  } catch {
    return '/conversations';
  }
};

if (new URLSearchParams(location.search).get('ended') === '1') {
  say(document.getElementById('login-status'), 'Your session ended (signed out on another device, or it expired). Sign in again to go on where you were.');
}

// Already signed in: straight on.
get('/api/session').then((s) => s?.signedIn && location.replace(next()), () => {});

function ageOn(birth, today = new Date()) {
  const [y, m, d] = birth.split('-').map(Number);
  let age = today.getFullYear() - y;
  if (today.getMonth() + 1 < m || (today.getMonth() + 1 === m && today.getDate() < d)) age--;
  return age;
}

// The field a refusal is about, so focus goes there (and it is marked invalid) instead of nowhere.
const FIELD_OF = {
  email_taken: 'reg-email', invalid_email: 'reg-email',
  handle_taken: 'reg-handle', handle_reserved: 'reg-handle', invalid_handle: 'reg-handle',
  weak_password: 'reg-password', invalid_password: 'reg-password',
  invalid_birth_date: 'reg-birth', underage: 'reg-birth', terms_not_accepted: 'reg-terms',
};

function handle(form, statusId, submit, fallbackField) {
  const status = document.getElementById(statusId);
  // the browser's own check stopped the form: an earlier message no longer applies
  form.addEventListener('invalid', () => say(status, ''), true);
  form.addEventListener('input', (e) => e.target.removeAttribute?.('aria-invalid'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.setAttribute('aria-busy', 'true');
    if (button.dataset.busy) return;
    button.dataset.busy = '1';
    say(status, 'One moment…');
    try {
      location.assign(next(await submit(new FormData(form))));
    } catch (err) {
      say(status, err.message, true);
      const field = document.getElementById(FIELD_OF[err.code] ?? fallbackField);
      if (field) {
        field.setAttribute('aria-invalid', 'true');
        field.setAttribute('aria-errormessage', statusId);
        field.focus();
      }
    } finally {
      delete button.dataset.busy;
      button.setAttribute('aria-busy', 'false');
    }
  });
}

handle(document.getElementById('login'), 'login-status', async (f) => {
  try {
    return (await post('/api/auth/login', { email: f.get('email'), password: f.get('password') }))?.user?.id;
  } catch (err) {
    if (err.status === 401) throw Object.assign(new Error('That email and password do not match.'), { code: 'login_failed' });
    if (err.status === 429) throw new Error(`Too many attempts. ${err.message.replace(/^Too many requests just now\. /, '')}`);
    throw err;
  }
}, 'login-password');

handle(document.getElementById('register'), 'register-status', async (f) => {
  const birthDate = String(f.get('birthDate') || '');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) throw Object.assign(new Error('Enter your date of birth.'), { code: 'invalid_birth_date' });
  if (ageOn(birthDate) < 18) throw Object.assign(new Error('Xplicit is only for people aged 18 and over.'), { code: 'underage' });
  if (!f.get('adult') || !f.get('acceptTerms')) throw new Error('Confirm that you are 18 or older and accept the terms.');
  try {
    await post('/api/auth/register', {
      email: f.get('email'),
      handle: String(f.get('handle') || '').toLowerCase(),
      password: f.get('password'),
      birthDate,
      acceptTerms: true,
    });
  } catch (err) {
    if (err.code === 'underage') throw Object.assign(new Error('Xplicit is only for people aged 18 and over.'), { code: 'underage' });
    throw err;
  }
}, 'reg-email');
