// One conversation: history, live messages, optimistic sends, "Seen", typing, partners' presence.
import { get, itemsOf, post } from '../lib/api.js?v=a3375f7ce6';
import { $, fill, setTime, say } from '../lib/dom.js?v=ad30dd5a83';
import { boot } from '../lib/shell.js?v=6cda7338a8';
import { conversationName, isolated, nameOf } from '../lib/names.js?v=a617f22254';
import { trackPresence, showPresence } from '../lib/presence.js?v=545113f219';

const PAGE = 50;
const id = new URLSearchParams(location.search).get('id');
if (!id) location.replace('/conversations');

const thread = $('#thread');
const older = $('#older');
const typingLine = $('#typing');
const form = $('#composer');
const input = $('#body');
const below = $('#below');
const status = $('#send-status');
const byMessageId = new Map();
const byClientId = new Map();
const members = new Map();
let oldestId = null;
let lastReadSent = null;
/** this page saw one of this member's messages confirmed (read markers reach partners from then on) */
let wroteHere = false;
// "Seen": each partner's read marker, seeded from the conversation (members[].lastReadMessageId) on
// load and on every refresh of it, then raised by live `read` events. Markers only move forward.
const readBy = new Map(); // member id → BigInt message id
const current = new Set(); // who is in the conversation now
let seenBy = null;
const partnerIds = [];
let group = false;

const { me, rt } = await boot();
const presence = trackPresence(rt, () => showPresence($('#presence'), presence.count(partnerIds), group));

/** Raises `userId`'s read marker to `upTo` (a message id) if it is further; true when it moved. */
function raiseSeen(userId, upTo) {
  let n;
  try { n = BigInt(upTo ?? 0); } catch { return false; }
  if (n <= (readBy.get(userId) ?? 0n)) return false;
  readBy.set(userId, n);
  return true;
}

/** Who of the partners has read up to message `n`, by name ("Seen by Ann, Bo and 2 others" in a group). */
function seenText(n) {
  if (!group) return 'Seen';
  const readers = [...readBy].filter(([uid, upTo]) => uid !== me.id && upTo >= n && current.has(uid));
  const names = readers.map(([uid]) => nameOf(members.get(uid)));
  if (partnerIds.length > 1 && readers.length >= partnerIds.length) return 'Seen by everyone';
  if (names.length === 3) return `Seen by ${names[0]}, ${names[1]} and ${names[2]}`;
  const shownNames = names.slice(0, 2).join(', ');
  return names.length > 2 ? `Seen by ${shownNames} and ${names.length - 2} other${names.length > 3 ? 's' : ''}` : `Seen by ${names.join(' and ')}`;
}

/** "Seen" goes under the newest own (confirmed) message at or below what a partner has read. */
function paintSeen() {
  let furthest = 0n;
  for (const [uid, upTo] of readBy) if (uid !== me.id && upTo > furthest) furthest = upTo;
  let target = null;
  if (furthest > 0n) {
    for (let li = thread.lastElementChild; li; li = li.previousElementSibling) {
      if (li.classList.contains('mine') && li.dataset.id && BigInt(li.dataset.id) <= furthest) { target = li; break; }
    }
  }
  if (!target) return void seenBy?.remove();
  seenBy ??= fill('t-seen');
  seenBy.textContent = seenText(BigInt(target.dataset.id));
  if (seenBy.parentNode !== target) target.append(seenBy);
}

function who(senderId) {
  return senderId === me.id ? 'You' : nameOf(members.get(senderId));
}

function nearBottom() {
  return innerHeight + scrollY >= document.body.scrollHeight - 120;
}

/**
 * Moves a confirmed message to its place in the server's order (by id) among the confirmed ones, so
 * every member and every reload show one order; sends not confirmed yet stay below, as written.
 */
function placeInOrder(li) {
  const n = BigInt(li.dataset.id);
  let before = thread.lastElementChild;
  while (before && (before === li || !before.dataset.id || BigInt(before.dataset.id) > n)) before = before.previousElementSibling;
  const next = before ? before.nextElementSibling : thread.firstElementChild;
  if (next !== li) thread.insertBefore(li, next);
}

// http(s) addresses in a message become links (opened apart, telling the site nothing of where
// they came from); anything else stays text. Punctuation right after an address is not part of it.
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"]+/gi;
function withLinks(textEl) {
  const text = textEl.textContent;
  if (!/https?:/i.test(text)) return;
  const parts = [];
  let at = 0;
  for (const m of text.matchAll(URL_IN_TEXT)) {
    let href = m[0].replace(/[.,!?;:)\]}'"]+$/, '');
    // a closing bracket belongs to the address when it opened one inside it (…/Foo_(bar))
    while (m[0].length > href.length && m[0][href.length] === ')' && (href.split('(').length > href.split(')').length)) href += ')';
    let url;
    try { url = new URL(href); } catch { continue; }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    parts.push(text.slice(at, m.index));
    const a = document.createElement('a');
    a.href = url.href;
    // shown as where it goes: a look-alike (IDN) host in its xn-- form, direction controls escaped
    a.textContent = url.href === href || url.href === `${href}/` ? href : url.href;
    a.rel = 'noopener noreferrer nofollow ugc';
    a.target = '_blank';
    parts.push(a);
    at = m.index + href.length;
  }
  if (!parts.length) return;
  parts.push(text.slice(at));
  textEl.replaceChildren(...parts);
}

/** What a message of ours is waiting for, or why it was refused (also for screen readers). */
/** Why a send was refused for good, in the member's words. */
function refusalText(f) {
  return f.code === 'blocked' ? 'You cannot message this member.' : f.message || 'The message was refused.';
}

function setState(li, text, failed = false) {
  const el = li.querySelector('.state');
  el.replaceChildren();
  if (!text) return;
  el.append(` · ${text}`);
  if (!failed) return;
  const retry = document.createElement('button');
  retry.type = 'button';
  retry.className = 'link';
  retry.textContent = 'Retry';
  retry.addEventListener('click', () => {
    const body = li.querySelector('.text').textContent;
    rt.settled(li.dataset.clientId);
    li.remove();
    say(status, '');
    showPending(rt.send(id, body), body, Date.now()).scrollIntoView({ block: 'end' });
    input.focus();
  });
  const drop = document.createElement('button');
  drop.type = 'button';
  drop.className = 'link';
  drop.textContent = 'Delete';
  drop.addEventListener('click', () => {
    rt.settled(li.dataset.clientId);
    li.remove();
    say(status, '');
    input.focus();
  });
  el.append(' ', retry, ' ', drop);
}

/** Renders a server message once (by messageId), adopting its optimistic copy if there is one. */
function show(m, where = 'end') {
  if (byMessageId.has(m.id)) return byMessageId.get(m.id);
  let li = m.clientMsgId ? byClientId.get(m.clientMsgId) : null;
  const stick = where === 'end' && nearBottom();
  if (li) {
    li.classList.remove('pending', 'failed');
    setState(li, '');
  } else {
    li = fill('t-message', { who: who(m.senderId), body: m.body });
    withLinks(li.querySelector('.text'));
    li.classList.toggle('mine', m.senderId === me.id);
    if (where === 'start') thread.prepend(li);
  }
  li.dataset.id = m.id;
  if (where === 'end') {
    placeInOrder(li);
    if (stick) thread.lastElementChild?.scrollIntoView({ block: 'end' });
  }
  setTime(li.querySelector('time'), m.ts);
  byMessageId.set(m.id, li);
  if (m.clientMsgId) byClientId.set(m.clientMsgId, li);
  return li;
}

function markRead() {
  if (document.visibilityState !== 'visible') return;
  let last = null;
  for (const li of [...thread.children].reverse()) {
    if (li.dataset.id && !li.classList.contains('mine')) { last = li.dataset.id; break; }
  }
  if (!last || last === lastReadSent) return;
  lastReadSent = last;
  rt.read(id, last);
}

async function loadMeta() {
  try {
    const c = (await get(`/api/conversations/${encodeURIComponent(id)}`))?.conversation;
    if (!c) return;
    // (members who left stay known by name for their old messages; `current` is who is in now)
    for (const m of c.members ?? []) members.set(m.id, m);
    current.clear();
    for (const m of c.members ?? []) current.add(m.id);
    partnerIds.splice(0, Infinity, ...(c.members ?? []).map((m) => m.id).filter((x) => x !== me.id));
    group = c.kind === 'group' || partnerIds.length > 1;
    $('#leave').hidden = c.kind !== 'group';
    // who is in a group (a member who left is gone from here and from "Seen by")
    for (const uid of readBy.keys()) if (!current.has(uid)) readBy.delete(uid);
    const line = $('#members');
    line.hidden = c.kind !== 'group';
    if (c.kind === 'group') line.textContent = [...c.members.filter((m) => m.id !== me.id).map(nameOf), 'you'].join(', ');
    showBlocked(c.youBlocked ? partnerIds.map((pid) => nameOf(members.get(pid))).join(', ') : null);
    if (c.kind === 'direct' && partnerIds.length === 0) showGone();
    presence.watch(partnerIds);
    let moved = false;
    for (const m of c.members ?? []) if (m.id !== me.id && raiseSeen(m.id, m.lastReadMessageId)) moved = true;
    if (moved) paintSeen();
    const name = conversationName(c, me.id);
    $('#title').textContent = name;
    document.title = `${name} · Xplicit`;
    for (const li of thread.children) {
      if (!li.classList.contains('mine')) li.querySelector('[data-f=who]').textContent = who(byMessageIdSender.get(li.dataset.id));
    }
  } catch {}
}
const byMessageIdSender = new Map();

async function loadPage(before) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (before) q.set('before', before);
  const r = await get(`/api/conversations/${encodeURIComponent(id)}/messages?${q}`);
  const items = itemsOf(r, 'messages');
  // Newest first from the server; older pages go on top in reverse.
  for (const m of items) {
    byMessageIdSender.set(m.id, m.senderId);
    show(m, 'start');
  }
  older.hidden = !(oldestId = r?.nextBefore);
  return items.length;
}

async function reload() {
  for (const [mid, li] of byMessageId) {
    if (!li.classList.contains('pending')) { li.remove(); byMessageId.delete(mid); }
  }
  oldestId = null;
  try {
    await loadPage(null);
  } catch (err) {
    if (err.status === 400 || err.status === 403 || err.status === 404) {
      say(status, 'This conversation does not exist or you are not in it.', true);
      form.hidden = true;
    } else say(status, err.message, true);
  }
  paintSeen();
  scrollTo(0, document.body.scrollHeight);
  markRead();
}

older.addEventListener('click', async () => {
  older.setAttribute('aria-busy', 'true');
  const first = thread.firstElementChild;
  try {
    await loadPage(oldestId);
    paintSeen();
    first?.scrollIntoView();
  } catch (err) {
    say(status, err.message, true);
  }
  older.setAttribute('aria-busy', 'false');
  // keyboard users stay where they were: on the button, or on the oldest message once there is no more
  if (!older.hidden) older.focus();
  else if (thread.firstElementChild) {
    thread.firstElementChild.tabIndex = -1;
    thread.firstElementChild.focus();
  }
});

rt.on('message', (d) => {
  if (String(d.conversationId) !== id) return;
  byMessageIdSender.set(d.messageId, d.senderId);
  show({ id: d.messageId, senderId: d.senderId, body: d.body, ts: d.ts, clientMsgId: d.clientMsgId });
  if (d.senderId !== me.id) {
    // (reading higher up: the view stays, and a button leads down to it)
    if (!nearBottom()) below.hidden = false;
    typingLine.textContent = '';
    // screen readers hear new messages from others (the thread itself is not a live region: it
    // would read out every page of history as it loads)
    $('#announce').textContent = `${who(d.senderId)}: ${d.body}`;
    markRead();
  } else paintSeen();
});
below.addEventListener('click', () => {
  scrollTo(0, document.body.scrollHeight);
  below.hidden = true;
  input.focus();
});
addEventListener('scroll', () => { if (!below.hidden && nearBottom()) below.hidden = true; }, { passive: true });
rt.on('read', (d) => {
  if (String(d.conversationId) !== id || d.userId === me.id) return;
  if (raiseSeen(d.userId, d.upToMessageId)) paintSeen();
});
rt.on('sent', (s) => {
  if (String(s.conversationId) !== id) return;
  const li = byClientId.get(s.id);
  if (!li || li.dataset.id) return;
  li.classList.remove('pending');
  setState(li, '');
  li.dataset.id = s.messageId;
  placeInOrder(li);
  byMessageId.set(s.messageId, li);
  setTime(li.querySelector('time'), s.ts);
  paintSeen();
  // A read marker goes to partners only once this member has written here (docs/protocol.md): the
  // one sent before this member's first message reached nobody, so it goes again now.
  if (!wroteHere) {
    wroteHere = true;
    lastReadSent = null;
    markRead();
  }
});
rt.on('send_failed', (f) => {
  const li = byClientId.get(f.id);
  if (!li) return;
  li.classList.remove('pending');
  li.classList.add('failed');
  const why = refusalText(f);
  setState(li, `Not sent: ${why}`, true);
  say(status, why, true);
  // a block made since the page loaded (here, in another tab, or by the other member): the page
  // reads the conversation again, and says so if the block is this member's own
  if (f.code === 'blocked' || f.code === 'not_member' || f.code === 'member_gone') void loadMeta();
});
let typingTimer = 0;
rt.on('typing', (t) => {
  if (String(t.conversationId) !== id || t.userId === me.id) return;
  const text = `${isolated(nameOf(members.get(t.userId)))} is typing…`;
  // (a live region: the same words again would be read out again, every frame)
  if (typingLine.textContent !== text) typingLine.textContent = text;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { typingLine.textContent = ''; }, 4000);
});
// Events were lost: the history and the partners' read markers are fetched again.
rt.on('resync', () => Promise.all([reload(), loadMeta()]));

/** This member left the group (here or on another device): nothing more comes or can be sent. */
function showLeft() {
  form.hidden = true;
  $('#leave').hidden = true;
  $('#presence').hidden = true;
  presence.watch([]);
  say(status, 'You left this group.');
}
// a block or unblock made in another tab of this browser: the composer or the notice follows it
addEventListener('storage', (e) => { if (e.key === 'xplicit-blocks-changed') void loadMeta(); });
/** The other member of a conversation of two deleted their account: nothing more can be sent. */
function showGone() {
  form.hidden = true;
  presence.watch([]);
  say(status, 'This member deleted their account: nothing more can be sent here.');
}
/** A member the viewer blocked: the composer gives way to why, and how to undo it. */
function showBlocked(name) {
  const notice = $('#blocked-notice');
  notice.hidden = !name;
  form.hidden = !!name;
  if (!name) return;
  const profile = document.createElement('a');
  profile.href = '/u/' + encodeURIComponent(members.get(partnerIds[0])?.handle ?? '');
  profile.textContent = 'their profile';
  notice.replaceChildren(`You blocked ${name}: unblock them on `, profile, ' to write here again.');
}
rt.on('conversation', (d) => {
  if (String(d.conversationId) !== id || d.change !== 'left') return;
  if (d.userId === me.id) return showLeft();
  const who = isolated(nameOf(members.get(d.userId)));
  // their messages are being deleted with their account
  if (d.accountDeleted) for (const [mid, li] of byMessageId) if (byMessageIdSender.get(mid) === d.userId) { li.remove(); byMessageId.delete(mid); }
  // a line in the thread, where it happened (announced once, by the announcer)
  const line = document.createElement('li');
  line.className = 'system';
  line.textContent = `${who} left the group.`;
  thread.append(line);
  say($('#announce'), `${who} left the group.`);
  readBy.delete(d.userId);
  void loadMeta().then(paintSeen);
});
$('#leave').addEventListener('click', async () => {
  if (!confirm('Leave this group? You will not get its messages any more.')) return;
  try {
    await post(`/api/conversations/${encodeURIComponent(id)}/leave`);
    location.assign('/conversations');
  } catch (err) {
    say(status, err.message, true);
  }
});
document.addEventListener('visibilitychange', markRead);

/** Reading the conversation reads its "sent you a message" notifications too (the badge follows). */
async function readMessageNotifications() {
  if (document.visibilityState !== 'visible' || !/^\d{1,18}$/.test(id)) return;
  try {
    await post('/api/notifications/read', { type: 'message', subjectId: id });
  } catch {}
}
document.addEventListener('visibilitychange', readMessageNotifications);
// Messages that came while this page was cut off were notified ("sent you a message"): read here
// once back, and as such notifications arrive while it is open.
let live = true;
rt.on('status', (st) => {
  const nowLive = st.mode === 'ws' || st.mode === 'http';
  if (nowLive && !live) void readMessageNotifications();
  live = nowLive;
});
rt.on('notification', (d) => {
  const n = d?.notification;
  if (n?.type === 'message' && String(n.subjectId) === id) void readMessageNotifications();
});

let lastTyping = 0;
input.addEventListener('input', () => {
  if (Date.now() - lastTyping < 2000) return;
  lastTyping = Date.now();
  rt.typing(id);
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    form.requestSubmit();
  }
});
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const body = input.value.trim();
  if (!body) {
    say(status, 'Write something first.', true);
    return input.focus();
  }
  // counted as the server counts (UTF-16 units: most emoji are 2), so a Retry that can never work is not offered
  if (body.length > input.maxLength) {
    say(status, `This message is too long by ${(body.length - input.maxLength).toLocaleString('en')} (emoji count as two): shorten it or split it in two.`, true);
    return input.focus();
  }
  showPending(rt.send(id, body), body, Date.now()).scrollIntoView({ block: 'end' });
  input.value = '';
  say(status, '');
});

// (the box grows with what is written: field-sizing in the stylesheet) It says when it is full.
input.addEventListener('input', () => {
  if (status.classList.contains('bad')) say(status, '');
  if (input.value.length >= input.maxLength) say(status, `A message can be at most ${input.maxLength.toLocaleString('en')} characters: the rest was left out.`, true);
});

let connected = true;
const pendingText = () => (connected ? 'Sending…' : 'Waiting for the connection');
rt.on('status', (st) => {
  const now = st.mode === 'ws' || st.mode === 'http';
  if (now === connected) return;
  connected = now;
  for (const li of thread.querySelectorAll('li.pending')) setState(li, pendingText());
});

/** A message of ours not yet confirmed, at the end of the thread until the server places it. */
function showPending(clientId, body, ts) {
  const li = fill('t-message', { who: 'You', body });
  withLinks(li.querySelector('.text'));
  li.classList.add('mine', 'pending');
  setState(li, pendingText());
  li.dataset.clientId = clientId;
  setTime(li.querySelector('time'), ts);
  byClientId.set(clientId, li);
  thread.append(li);
  return li;
}

await Promise.all([reload(), loadMeta()]);
// ready to write (not on touch screens, where focusing would throw up the keyboard unasked)
if (!form.hidden && matchMedia('(pointer: fine)').matches) input.focus({ preventScroll: true });
// names filled in after the first paint can wrap and push the newest message under the composer
scrollTo(0, document.body.scrollHeight);
// written on an earlier page (closed or reloaded before they were confirmed): still on their way
for (const m of rt.pending.values()) {
  if (m.conversationId === id && !byClientId.has(m.id)) showPending(m.id, m.body, m.clientTs);
}
// refused for good on an earlier page, or in a tab since closed: still there to retry or delete
for (const m of rt.failedIn(id)) {
  if (byClientId.has(m.id)) continue;
  const li = showPending(m.id, m.body, m.clientTs);
  li.classList.remove('pending');
  li.classList.add('failed');
  setState(li, `Not sent: ${refusalText(m.failed)}`, true);
}
void readMessageNotifications();
