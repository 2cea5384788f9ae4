// What every signed-in page does first: theme, prefetch, who am I, the real-time client, the
// notification badge and the connection line in the header.
import { get, post } from './api.js?v=a3375f7ce6';
import { initTheme } from './theme.js?v=376900fe2c';
import { initPrefetch } from './prefetch.js?v=8545df2da1';
import { realtime } from '../realtime/client.js?v=9f8c71909a';

const MODES = {
  connecting: 'Connecting…',
  offline: 'Offline: messages you send are kept and go out when you are back.',
  http: 'Live updates are slower on this network: messages still arrive, online status is not shown.',
  ws: '',
  signed_out: 'Your session ended. Sign in again.',
  stopped: '',
};

const counts = { alerts: 0, chats: 0 };
const shown = (n) => (n > 99 ? '99+' : String(n));

function paintCount(selector, linkId, word, n, what) {
  for (const badge of document.querySelectorAll(selector)) {
    badge.textContent = shown(n);
    badge.hidden = n === 0;
  }
  // the accessible name starts with the visible word, so voice control's "click Alerts" finds it
  document.getElementById(linkId)?.setAttribute('aria-label', n ? `${word}, ${n} ${what}` : word);
}

/**
 * "(n) " before the page's title: unread alerts and chats together. Pages set their own title
 * after boot (a conversation's name, a member's): the prefix is put back whenever it changes.
 */
function paintTitle() {
  const n = counts.alerts + counts.chats;
  const bare = document.title.replace(/^\(\d+\+?\) /, '');
  const want = n ? `(${shown(n)}) ${bare}` : bare;
  if (document.title !== want) document.title = want;
}
const titleElement = document.querySelector('title');
if (titleElement) new MutationObserver(paintTitle).observe(titleElement, { childList: true, characterData: true, subtree: true });

export function setBadge(count) {
  counts.alerts = Math.max(0, Number(count) || 0);
  paintCount('[data-badge]', 'nav-notifications', 'Alerts', counts.alerts, 'unread');
  paintTitle();
}

/** How many conversations have messages the member has not read (the "Chats" badge). */
export function setChatsBadge(count) {
  counts.chats = Math.max(0, Number(count) || 0);
  paintCount('[data-chats-badge]', 'nav-chats', 'Chats', counts.chats, 'with unread messages');
  paintTitle();
}

let chatsTimer = null;
/** Asks for the unread chats count, at most once per burst of events. */
function refreshChatsBadge() {
  clearTimeout(chatsTimer);
  chatsTimer = setTimeout(async () => {
    try {
      setChatsBadge((await get('/api/conversations/unread-count'))?.unread ?? 0);
    } catch {}
  }, 250);
}

async function refreshBadge() {
  try {
    const r = await get('/api/notifications/unread-count');
    setBadge(r?.unread ?? r?.count ?? 0);
  } catch {}
}

// A promise that never settles: what boot() hands back when the page cannot go on (a redirect is
// under way, or the failure is already on screen), so `await boot()` in a page module just stops
// there instead of ending in an uncaught rejection.
const never = () => new Promise(() => {});

function bootMessage(err) {
  if (err?.status === 0) return err.message || 'The network is unreachable. Try again.';
  if (err?.status === 429) return 'Too many requests just now. Wait a moment and reload the page.';
  if (err?.status >= 500) return 'Xplicit is having trouble right now, so this page could not load. Try again in a moment.';
  return 'This page could not load' + (err?.message ? `: ${err.message}` : '.') + ' Try again in a moment.';
}

/** Tells the member the page could not start (same status line as the pages' forms use). */
function showBootFailure(err) {
  for (const el of document.querySelectorAll('[aria-busy="true"]')) el.setAttribute('aria-busy', 'false');
  const main = document.getElementById('main') ?? document.body;
  let line = document.getElementById('boot-status');
  if (!line) {
    line = document.createElement('div');
    line.id = 'boot-status';
    line.className = 'status bad';
    line.setAttribute('role', 'alert');
    const text = document.createElement('p');
    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'quiet';
    again.textContent = 'Try again';
    again.addEventListener('click', () => location.reload());
    line.append(text, again);
    const heading = main.querySelector(':scope > h1');
    if (heading) heading.after(line);
    else main.prepend(line);
  }
  line.firstChild.textContent = bootMessage(err);
}

/**
 * Resolves with {me, rt}. Signed-out visitors are sent to the landing page and a failed start is
 * shown on the page; in both cases the promise never settles (nothing after `await boot()` runs).
 */
export async function boot() {
  initTheme();
  initPrefetch();
  let me;
  try {
    me = (await get('/api/me'))?.user;
    if (!me) throw new Error('Your account could not be read.');
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      location.replace('/?next=' + encodeURIComponent(location.pathname + location.search));
    } else {
      showBootFailure(err);
    }
    return never();
  }
  document.body.dataset.me = me.handle;
  const mine = document.getElementById('nav-me');
  if (mine) mine.href = '/u/' + encodeURIComponent(me.handle);

  const rt = realtime(me.id);
  const conn = document.getElementById('conn');
  let signingOut = false;
  // a sign-out in any tab of this browser: its other tabs go to the landing page quietly too
  const SIGNED_OUT_HERE = 'xplicit-signed-out-at';
  const signedOutHereLately = () => {
    try { return Date.now() - Number(localStorage.getItem(SIGNED_OUT_HERE) ?? 0) < 30000; } catch { return false; }
  };
  const markSigningOut = () => {
    signingOut = true;
    try { localStorage.setItem(SIGNED_OUT_HERE, String(Date.now())); } catch {}
  };
  let connected = false;
  rt.on('status', (s) => {
    document.body.dataset.rt = s.mode;
    // back: notifications written while away left no event (docs/protocol.md), so ask
    const live = s.mode === 'ws' || s.mode === 'http';
    if (live && !connected) refreshBadge();
    connected = live;
    if (conn) conn.textContent = MODES[s.mode] ?? '';
    // ended elsewhere (another device, "sign out everywhere", expiry): the sign-in page says so;
    // this tab's own "Sign out" (which ends the socket too) just goes to the landing page
    if (s.mode === 'signed_out') {
      location.replace(signingOut || signedOutHereLately() ? '/' : `/?ended=1&for=${me.id}&next=` + encodeURIComponent(location.pathname + location.search));
    }
  });
  // a message from someone else, or a read of the member's own: the chats badge may change
  rt.on('message', (d) => { if (d.senderId !== me.id) refreshChatsBadge(); });
  rt.on('read', (d) => { if (d.userId === me.id) refreshChatsBadge(); });
  rt.on('conversation', refreshChatsBadge);
  rt.on('resync', refreshChatsBadge);
  refreshChatsBadge();
  rt.on('notification', (d) => {
    if (typeof d.unread === 'number') setBadge(d.unread);
    else refreshBadge();
  });
  rt.on('notifications_read', (d) => {
    if (typeof d.unread === 'number') setBadge(d.unread);
    else refreshBadge();
  });
  rt.on('resync', refreshBadge);
  void refreshBadge();

  const out = document.getElementById('sign-out');
  out?.addEventListener('click', async () => {
    markSigningOut();
    try { await post('/api/auth/logout'); } catch {}
    rt.signOut();
    location.replace('/');
  });
  // for pages that sign this tab out themselves ("sign out everywhere"): no "session ended" message
  const signingOutHere = markSigningOut;
  return { me, rt, signingOutHere };
}
