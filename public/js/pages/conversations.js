// The member's conversations, most recent first, kept current by the real-time client, with the
// partners' online state.
import { get, post, itemsOf } from '../lib/api.js?v=a3375f7ce6';
import { $, fill, setTime, say } from '../lib/dom.js?v=ad30dd5a83';
import { boot } from '../lib/shell.js?v=6cda7338a8';
import { conversationName, initialOf, isolated, nameOf } from '../lib/names.js?v=a617f22254';
import { trackPresence, showPresence } from '../lib/presence.js?v=545113f219';

const list = $('#conversations');
const none = $('#none');
const { me, rt } = await boot();
const partners = new Map(); // conversation id → { ids: the other members, group }
const conversations = new Map(); // conversation id → its summary, for previews
const presence = trackPresence(rt, paintPresence);

function paintPresence() {
  for (const li of list.children) {
    const p = partners.get(li.dataset.id);
    if (p) showPresence(li.querySelector('.presence'), presence.count(p.ids), p.group);
  }
}

const isUnread = (c) => !!c.lastMessage && c.lastMessage.senderId !== me.id && BigInt(c.lastMessage.id) > BigInt(c.lastReadMessageId || 0);

/** Unread: styled, and said to screen readers before the name. */
function markUnread(li, unread) {
  li.classList.toggle('unread', unread);
  li.querySelector('[data-f=unread]').textContent = unread ? 'Unread: ' : '';
}

/** The preview line: who wrote it in a group, "You:" for one's own. */
function previewOf(c, m = c.lastMessage) {
  if (!m) return 'No messages yet';
  // name and body each kept apart, in the page's direction: a right-to-left name or body takes no words along
  const body = isolated(m.body);
  if (m.senderId === me.id) return `You: ${body}`;
  const sender = c.members?.find((x) => x.id === m.senderId);
  return c.kind === 'group' && sender ? `${isolated(nameOf(sender))}: ${body}` : body;
}

function render(c) {
  const name = conversationName(c, me.id);
  conversations.set(String(c.id), c);
  const li = fill('t-conversation', { initial: initialOf(name), name, preview: previewOf(c) });
  li.dataset.id = c.id;
  const ids = (c.members ?? []).map((m) => m.id).filter((x) => x !== me.id);
  const group = c.kind === 'group' || ids.length > 1;
  partners.set(String(c.id), { ids, group });
  showPresence(li.querySelector('.presence'), presence.count(ids), group);
  li.querySelector('a').href = '/conversation?id=' + encodeURIComponent(c.id);
  markUnread(li, isUnread(c));
  const t = li.querySelector('time');
  if (c.lastMessage) setTime(t, c.lastMessage.ts);
  else setTime(t, c.createdAt);
  return li;
}

const more = $('#more');
let nextBefore = null;

/** The newest page again (reset), or the next older one. */
async function load(reset = true) {
  try {
    const q = !reset && nextBefore ? `?before=${encodeURIComponent(nextBefore)}` : '';
    const r = await get('/api/conversations' + q);
    const items = itemsOf(r, 'conversations');
    if (reset) {
      partners.clear();
      list.replaceChildren(...items.map(render));
    } else {
      const added = items.filter((c) => !list.querySelector(`li[data-id="${CSS.escape(String(c.id))}"]`)).map(render);
      list.append(...added);
      // the button goes when there is no more: keyboard focus moves to the first row it brought
      if (!r?.nextBefore && document.activeElement === more) added[0]?.querySelector('a')?.focus();
    }
    nextBefore = r?.nextBefore ?? null;
    more.hidden = !nextBefore;
    none.hidden = list.children.length > 0;
    presence.watch([...partners.values()].flatMap((p) => p.ids));
  } catch (err) {
    none.hidden = false;
    none.textContent = err.message;
  } finally {
    list.setAttribute('aria-busy', 'false');
  }
}

/** One conversation this page does not show yet (new, or further down than the pages loaded): put on top. */
async function showOnTop(id) {
  try {
    const c = (await get(`/api/conversations/${encodeURIComponent(id)}`))?.conversation;
    if (!c) return;
    list.querySelector(`li[data-id="${CSS.escape(String(c.id))}"]`)?.remove();
    list.prepend(render(c));
    none.hidden = true;
    presence.watch([...partners.values()].flatMap((p) => p.ids));
  } catch {}
}

rt.on('message', (d) => {
  const li = list.querySelector(`li[data-id="${CSS.escape(d.conversationId)}"]`);
  if (!li) return void showOnTop(d.conversationId);
  const c = conversations.get(String(d.conversationId));
  li.querySelector('.preview').textContent = c ? previewOf(c, { id: d.messageId, senderId: d.senderId, body: d.body }) : isolated(d.body);
  setTime(li.querySelector('time'), d.ts);
  markUnread(li, d.senderId !== me.id);
  list.prepend(li);
});
rt.on('read', (d) => {
  if (d.userId !== me.id) return;
  const li = list.querySelector(`li[data-id="${CSS.escape(d.conversationId)}"]`);
  if (li) markUnread(li, false);
});
// a new conversation goes on top; a member leaving (oneself included) is read again
rt.on('conversation', (d) => {
  if (d.change === 'left' && d.userId === me.id) {
    list.querySelector(`li[data-id="${CSS.escape(String(d.conversationId))}"]`)?.remove();
    none.hidden = list.children.length > 0;
  } else void showOnTop(d.conversationId);
});
rt.on('resync', () => load());
more.addEventListener('click', () => load(false));
$('#to-new').addEventListener('click', (e) => {
  e.preventDefault();
  $('#new-conversation').scrollIntoView();
  $('#handles').focus();
});

const form = $('#new-conversation');
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const status = $('#new-status');
  const handles = String(new FormData(form).get('handles') || '').split(/[\s,]+/).map((h) => h.replace(/^@/, '').toLowerCase()).filter(Boolean);
  const title = String(new FormData(form).get('title') || '').trim();
  if (!handles.length) return say(status, 'Name at least one member.', true);
  if (title && handles.length === 1) {
    $('#title').focus();
    return say(status, 'A title is for groups: name two or more members, or leave the title empty.', true);
  }
  // one conversation per submit: a second click or Enter while the first is on its way would start another group
  if (form.dataset.busy) return;
  form.dataset.busy = '1';
  form.setAttribute('aria-busy', 'true');
  try {
    const r = await post('/api/conversations', title ? { handles, title } : { handles });
    const id = r?.id ?? r?.conversation?.id;
    location.assign('/conversation?id=' + encodeURIComponent(id));
  } catch (err) {
    delete form.dataset.busy;
    form.setAttribute('aria-busy', 'false');
    say(status, err.message, true);
    $('#handles').focus();
  }
});

await load();
