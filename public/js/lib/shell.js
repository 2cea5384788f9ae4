// What every signed-in page does first: theme, prefetch, who am I, the real-time client, the
// notification badge and the connection line in the header.
import { get, post } from './api.js?v=7c19fecb87';
import { initTheme } from './theme.js?v=57a056b519';
import { initPrefetch } from './prefetch.js?v=8545df2da1';
import { realtime } from '../realtime/client.js?v=36192a6bcb';

const MODES = {
  connecting: 'Connecting…',
  offline: 'Offline: messages you send are kept and go out when you are back.',
  http: '',
  ws: '',
  signed_out: 'Your session ended. Sign in again.',
  stopped: '',
};

export function setBadge(count) {
  const n = Math.max(0, Number(count) || 0);
  for (const badge of document.querySelectorAll('[data-badge]')) {
    badge.textContent = n > 99 ? '99+' : String(n);
    badge.hidden = n === 0;
  }
  const link = document.getElementById('nav-notifications');
  if (link) link.setAttribute('aria-label', n ? `Notifications, ${n} unread` : 'Notifications');
  document.title = document.title.replace(/^\(\d+\+?\) /, '');
  if (n) document.title = `(${n > 99 ? '99+' : n}) ${document.title}`;
}

async function refreshBadge() {
  try {
    const r = await get('/api/notifications/unread-count');
    setBadge(r?.unread ?? r?.count ?? 0);
  } catch {}
}

/** Resolves with {me, rt}; sends signed-out visitors to the landing page. */
export async function boot() {
  initTheme();
  initPrefetch();
  let me;
  try {
    me = (await get('/api/me')).user;
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      location.replace('/?next=' + encodeURIComponent(location.pathname + location.search));
    }
    throw err;
  }
  document.body.dataset.me = me.handle;
  const mine = document.getElementById('nav-me');
  if (mine) mine.href = '/u/' + encodeURIComponent(me.handle);

  const rt = realtime(me.id);
  const conn = document.getElementById('conn');
  rt.on('status', (s) => {
    document.body.dataset.rt = s.mode;
    if (conn) conn.textContent = MODES[s.mode] ?? '';
    if (s.mode === 'signed_out') location.replace('/');
  });
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
    try { await post('/api/auth/logout'); } catch {}
    rt.signOut();
    location.replace('/');
  });
  return { me, rt };
}
