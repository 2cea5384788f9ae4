// A member's profile: follow, block, message, followers and following.
import { get, post, put, del, itemsOf } from '../lib/api.js?v=a3375f7ce6';
import { $, LOCALE, fill, say } from '../lib/dom.js?v=ad30dd5a83';
import { boot } from '../lib/shell.js?v=6cda7338a8';
import { initialOf, nameOf } from '../lib/names.js?v=a617f22254';
import { announceBlocksChanged } from '../lib/blocks.js?v=9d35ceb8f1';

const status = $('#status');
const people = $('#people');
const more = $('#more');
const { me } = await boot();

const fromPath = location.pathname.match(/^\/u\/([^/]+)/)?.[1];
const handle = decodeURIComponent(fromPath || new URLSearchParams(location.search).get('handle') || me.handle).toLowerCase();
const path = '/api/users/' + encodeURIComponent(handle);
// "Me" is the current page only on one's own profile
if (handle === me.handle) $('#nav-me')?.setAttribute('aria-current', 'page');
let direction = 'followers';
let cursor = null;

async function loadProfile() {
  try {
    const { profile: p } = await get(path);
    const name = nameOf(p);
    $('#name').textContent = name;
    $('#handle').textContent = '@' + p.handle;
    $('#initial').textContent = initialOf(name);
    $('#bio').textContent = p.bio || '';
    if (p.createdAt) $('#since').textContent = 'Member since ' + new Date(p.createdAt).toLocaleDateString(LOCALE, { year: 'numeric', month: 'long' });
    document.title = `${name} · Xplicit`;
    const own = p.handle === me.handle;
    $('#own').hidden = !own;
    $('#actions').hidden = own;
    // following, messaging or reacting to a member one blocked is refused: the buttons say so first
    const blocked = p.blocked === true;
    showReactions(p.reactions, own || blocked);
    showCounts(p.followerCount, p.followingCount);
    if (typeof p.following === 'boolean') setPressed($('#follow'), p.following, 'Following', 'Follow');
    if (typeof p.blocked === 'boolean') setPressed($('#block'), p.blocked, 'Unblock', 'Block');
    // said before the member presses Message (a conversation that exists still opens)
    $('#contact-hint').hidden = p.acceptsNewConversations !== false || blocked;
    $('#follow').disabled = blocked;
    $('#message').disabled = blocked;
    return true;
  } catch (err) {
    $('#name').textContent = err.status === 404 ? 'No such member' : 'Could not load this profile';
    say(status, err.status === 404 ? '' : err.message, err.status !== 404);
    return false;
  }
}

const REACTIONS = { like: ['👍', 'Like'], heart: ['❤️', 'Love'], fire: ['🔥', 'Hot'], wink: ['😉', 'Wink'] };

/** The reaction buttons: counts for everyone, pressed for the viewer's own; one's own profile (or a blocked one) only shows them. */
function showReactions(summary, readOnly) {
  if (!summary?.counts) return;
  const group = $('#reactions');
  group.hidden = false;
  for (const btn of group.querySelectorAll('button[data-reaction]')) {
    const r = btn.dataset.reaction;
    const [icon, label] = REACTIONS[r] ?? ['', r];
    const n = summary.counts[r] ?? 0;
    btn.textContent = `${icon} ${n}`;
    btn.setAttribute('aria-label', `${label}: ${n}`);
    btn.setAttribute('aria-pressed', String(summary.mine === r));
    btn.disabled = readOnly;
  }
}

$('#reactions').addEventListener('click', async (e) => {
  const btn = e.target.closest('button[data-reaction]');
  if (!btn || btn.disabled) return;
  const reaction = btn.dataset.reaction;
  const mine = btn.getAttribute('aria-pressed') === 'true';
  try {
    const r = mine ? await del(path + '/reaction') : await put(path + '/reaction', { reaction });
    showReactions({ counts: r.counts, mine: mine ? null : reaction }, false);
  } catch (err) {
    say(status, err.message, true);
  }
});

const counts = { followers: 0, following: 0 };
const number = new Intl.NumberFormat(LOCALE);

/** The Followers / Following buttons say how many. */
function showCounts(followers, following) {
  if (typeof followers === 'number') counts.followers = followers;
  if (typeof following === 'number') counts.following = following;
  for (const dir of ['followers', 'following']) {
    const label = dir === 'followers' ? 'Followers' : 'Following';
    $('#show-' + dir).textContent = `${label} ${number.format(counts[dir])}`;
  }
}

function setPressed(btn, on, yes, no) {
  btn.setAttribute('aria-pressed', String(on));
  btn.textContent = on ? yes : no;
}

async function loadPeople(reset) {
  if (reset) {
    people.replaceChildren();
    cursor = null;
  }
  const q = new URLSearchParams({ limit: '20' });
  if (cursor) q.set('cursor', cursor);
  try {
    const r = await get(`${path}/${direction}?${q}`);
    for (const m of itemsOf(r)) {
      const li = fill('t-person', { initial: initialOf(nameOf(m)), name: nameOf(m), handle: '@' + m.handle });
      li.querySelector('a').href = '/u/' + encodeURIComponent(m.handle);
      people.append(li);
    }
    cursor = r?.nextCursor ?? null;
    more.hidden = !cursor;
    $('#none').hidden = people.children.length > 0;
  } catch {
    $('#none').hidden = false;
  }
}

for (const dir of ['followers', 'following']) {
  $('#show-' + dir).addEventListener('click', () => {
    direction = dir;
    $('#show-followers').setAttribute('aria-pressed', String(dir === 'followers'));
    $('#show-following').setAttribute('aria-pressed', String(dir === 'following'));
    void loadPeople(true);
  });
}
more.addEventListener('click', () => loadPeople(false));

$('#follow').addEventListener('click', async (e) => {
  const on = e.currentTarget.getAttribute('aria-pressed') === 'true';
  try {
    const r = await (on ? del(path + '/follow') : post(path + '/follow'));
    setPressed(e.target.closest('button'), !on, 'Following', 'Follow');
    // the server's count: a follow from another tab, or one that was there already, counts once
    showCounts(r?.followerCount, r?.followingCount);
    say(status, on ? 'Unfollowed.' : 'Following.');
    if (direction === 'followers') void loadPeople(true);
  } catch (err) {
    say(status, err.message, true);
  }
});
$('#block').addEventListener('click', async (e) => {
  const btn = e.currentTarget;
  const on = btn.getAttribute('aria-pressed') === 'true';
  if (!on && !confirm(`Block @${handle}? You will stop following each other.`)) return;
  try {
    await (on ? del(path + '/block') : post(path + '/block'));
    say(status, on ? 'Unblocked.' : 'Blocked.');
    announceBlocksChanged();
    // a block ends follows both ways and may end one's reaction: show what the server now has
    await loadProfile();
    await loadPeople(true);
  } catch (err) {
    say(status, err.message, true);
  }
});
$('#message').addEventListener('click', async () => {
  try {
    const r = await post('/api/conversations', { handles: [handle] });
    location.assign('/conversation?id=' + encodeURIComponent(r?.id ?? r?.conversation?.id));
  } catch (err) {
    say(status, err.message, true);
  }
});

if (await loadProfile()) await loadPeople(true);
else $('#people-card').hidden = true; // no such member (or one who blocked you): no lists either
