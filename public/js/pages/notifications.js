// Notifications: newest first, live additions, read state shared by every tab and device.
import { get, post, postAsLeaving, itemsOf } from '../lib/api.js?v=a3375f7ce6';
import { $, fill, setTime, say } from '../lib/dom.js?v=ad30dd5a83';
import { boot, setBadge } from '../lib/shell.js?v=6cda7338a8';
import { initialOf, isolated, nameOf } from '../lib/names.js?v=a617f22254';

const list = $('#notifications');
const none = $('#none');
const more = $('#more');
const status = $('#status');
const rows = new Map();
let nextCursor = null;

const { rt } = await boot();

function actorOf(n) {
  if (n.actor && typeof n.actor === 'object') return n.actor;
  const actors = n.actors ?? n.latestActors;
  if (Array.isArray(actors) && actors.length) return actors[0];
  return { handle: n.actorHandle, displayName: n.actorDisplayName };
}

/** "Cleo", "Cleo and Ana", "Cleo, Ana and others": who wrote the messages a notification counts. */
function sendersOf(n) {
  const names = (Array.isArray(n.actors) && n.actors.length ? n.actors : [actorOf(n)]).map((a) => isolated(nameOf(a)));
  if (names.length === 1) return names[0];
  const more = names.length >= 3 && (n.count ?? 0) > names.length ? ' and others' : '';
  return more ? `${names.slice(0, 2).join(', ')}${more}` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

function describe(n) {
  const actor = actorOf(n);
  const who = isolated(nameOf(actor));
  const others = (n.count ?? 1) > 1 ? ` and ${n.count - 1} other${n.count > 2 ? 's' : ''}` : '';
  const link = actor?.handle ? '/u/' + encodeURIComponent(actor.handle) : '/notifications';
  switch (n.type) {
    case 'follow': return { text: `${who}${others} followed you`, link };
    case 'message': {
      // grouped per conversation: the count is of messages, the actors are their latest senders
      const what = (n.count ?? 1) > 1 ? `${n.count} messages` : 'a message';
      const senders = sendersOf(n);
      return { text: `${senders} sent you ${what}`, link: n.subjectId ? '/conversation?id=' + encodeURIComponent(n.subjectId) : '/conversations' };
    }
    case 'profile_view': case 'view': return { text: `${who}${others} viewed your profile`, link };
    case 'reaction': case 'react': return { text: `${who}${others} reacted to your profile`, link };
    case 'broadcast': return { text: [n.broadcast?.title, n.broadcast?.body].filter(Boolean).join(': ') || 'Announcement', link: '/notifications' };
    case 'post': return { text: `${who}${others} posted`, link };
    default: return { text: `${who}: ${n.type}`, link };
  }
}

const isUnread = (n) => !n.readAt && !n.read;

/** Unread: tinted, and said to screen readers before the text. */
function setUnread(li, unread) {
  li.classList.toggle('unread', unread);
  li.querySelector('[data-f=unread]').textContent = unread ? 'Unread: ' : '';
}

function render(n) {
  const { text, link } = describe(n);
  const li = fill('t-notification', { initial: initialOf(text.replace(/^\u2068/, '')), text });
  // an announcement's own words may be right-to-left; the other sentences are the page's, names isolated
  if (n.type === 'broadcast') li.querySelector('a').dir = 'auto';
  li.dataset.id = n.id;
  if (n.seq) li.dataset.seq = n.seq;
  li.dataset.type = n.type ?? '';
  li.dataset.subject = n.subjectId ?? '';
  li.querySelector('a').href = link;
  setUnread(li, isUnread(n));
  // A grouped notification's createdAt is the start of its grouping hour; updatedAt is when its
  // latest event happened, which is what the member wants to see.
  setTime(li.querySelector('time'), n.updatedAt ?? n.createdAt ?? Date.now());
  return li;
}

function upsert(n, where) {
  const li = render(n);
  const old = rows.get(String(n.id));
  if (old) old.replaceWith(li);
  if (where === 'start') list.prepend(li);
  else if (!old) list.append(li);
  rows.set(String(n.id), li);
  none.hidden = true;
}

async function load(reset) {
  if (reset) {
    list.replaceChildren();
    rows.clear();
    nextCursor = null;
  }
  const q = new URLSearchParams({ limit: '30' });
  if (nextCursor) q.set('cursor', nextCursor);
  try {
    const r = await get('/api/notifications?' + q);
    for (const n of itemsOf(r, 'notifications')) upsert(n, 'end');
    nextCursor = r?.nextCursor ?? null;
    more.hidden = !nextCursor;
    none.hidden = rows.size > 0;
  } catch (err) {
    say(status, err.status === 404 ? 'Notifications are not available yet.' : err.message, true);
  }
}

// What a read on any client marked: ids; a type about a subject (a conversation's message
// notifications); `upToSeq`, every row at or below a position (what that client showed); or `upTo`,
// a row and every row below it as this tab shows them (a row it does not show falls back to ids).
function markLocally(d) {
  const ids = Array.isArray(d.ids) ? new Set(d.ids.map(String)) : null;
  const upToRow = d.upTo === undefined ? null : rows.get(String(d.upTo));
  let below = false;
  for (const li of list.children) {
    const nid = li.dataset.id;
    if (li === upToRow) below = true;
    let read;
    if (ids) read = ids.has(nid);
    else if (d.subjectId !== undefined) read = li.dataset.type === d.type && li.dataset.subject === String(d.subjectId);
    else if (d.upToSeq !== undefined) read = !!li.dataset.seq && BigInt(li.dataset.seq) <= BigInt(d.upToSeq);
    else read = d.upTo === undefined || below || (!upToRow && BigInt(nid) <= BigInt(d.upTo));
    if (read) setUnread(li, false);
  }
}

// Screen readers hear what arrives live, once (the list itself is not a live region: it would read
// out every page as it loads, and every "Unread" as it is cleared).
rt.on('notification', (d) => {
  if (!d.notification) return;
  upsert(d.notification, 'start');
  say($('#announce'), describe(d.notification).text);
});
rt.on('notifications_read', markLocally);
rt.on('resync', () => load(true));

// Opening a notification reads it (its badge count too), as opening a conversation reads its messages.
list.addEventListener('click', (e) => {
  const li = e.target.closest('li');
  if (!li || !e.target.closest('a') || !li.classList.contains('unread') || !li.dataset.id) return;
  postAsLeaving('/api/notifications/read', { ids: [li.dataset.id] });
  setUnread(li, false);
});
more.addEventListener('click', () => load(false));
$('#mark-read').addEventListener('click', async () => {
  // the top row as this tab shows it: what grew or came since stays unread
  const top = list.firstElementChild;
  if (!top) return say(status, 'All caught up.');
  const target = top.dataset.seq ? { upToSeq: top.dataset.seq } : { upTo: top.dataset.id };
  try {
    const r = await post('/api/notifications/read', target);
    markLocally(target);
    setBadge(r?.unread ?? 0);
    say(status, 'All caught up.');
  } catch (err) {
    say(status, err.message, true);
  }
});

await load(true);
