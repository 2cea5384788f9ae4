/**
 * Who is in a conversation, and who in it hides from whom (a block either way), cached
 * in-process: membership is read on every send and changes rarely, so a short-lived cache saves a
 * query per message. A sender not found in the cached list is re-checked against Postgres before
 * being refused.
 *
 * An entry past its age is still answered from, while one query refreshes it in the background:
 * entries loaded together (every conversation of a busy replica, in its first seconds) expire
 * together, and making each of those sends wait for its own query put a minute-periodic stall of
 * hundreds of queries in front of the writer.
 *
 * A member leaving a group, a block or an unblock is announced on a Redis channel every process
 * follows (`followMembershipChanges`): the entries it touches are dropped at once, and a load that
 * began before the announcement is not kept. While that channel is down entries live out their age.
 */
import { AppError, forbidden } from "../../errors/index.ts";
import type { Redis, RedisKeys } from "../../redis/index.ts";
import { visibilityChannel } from "../presence/index.ts";
import type { MessagingDeps } from "./types.ts";

export interface ConversationInfo {
  kind: "direct" | "group";
  members: string[];
  /** members who created the conversation or wrote in it (partners.ts: who sees whose presence) */
  engaged: Set<string>;
  /**
   * For each member with a block either way, the members hidden from them: in a group they get
   * nothing of each other; in a conversation of two the writer refuses their messages, and this
   * keeps the rest (read markers) from the other.
   */
  hidden: ReadonlyMap<string, ReadonlySet<string>>;
}

const NOTHING_HIDDEN: ReadonlyMap<string, ReadonlySet<string>> = new Map();

interface Entry {
  at: number;
  info: ConversationInfo;
}

const TTL_MS = 60_000;
const MAX_ENTRIES = 100_000;

/**
 * A member found not to be in a conversation (or the conversation not to exist) is answered so
 * again without a query for this long: a client naming conversations it is not in — read frames
 * over 16 sockets made 800 Postgres lookups a second per replica — costs one lookup per pair.
 */
const REFUSED_MS = 5_000;
const MAX_REFUSED = 10_000;

interface Cache {
  entries: Map<string, Entry>;
  /** `conversation:member` → until when it is refused without asking */
  refused: Map<string, number>;
  /** loads in flight: concurrent misses for one conversation share one query */
  loading: Map<string, Promise<ConversationInfo | null>>;
  /** counts announced changes: a load that saw one begin after it started is not kept */
  changes: number;
}
const caches = new WeakMap<MessagingDeps, Cache>();

function cacheFor(deps: MessagingDeps): Cache {
  let cache = caches.get(deps);
  if (!cache) caches.set(deps, (cache = { entries: new Map(), refused: new Map(), loading: new Map(), changes: 0 }));
  return cache;
}

async function query(deps: MessagingDeps, conversationId: string): Promise<ConversationInfo | null> {
  const [row] = await deps.sql<{ kind: "direct" | "group"; members: string[] | null; engaged: string[] | null; blockers: string[] | null; blocked: string[] | null }[]>`
    select c.kind, m.members, m.engaged, b.blockers, b.blocked
    from conversations c,
    lateral (
      select array_agg(user_id) as members, array_agg(user_id) filter (where engaged) as engaged
      from conversation_members where conversation_id = c.id
    ) m,
    lateral (
      select array_agg(blocker_id) as blockers, array_agg(blocked_id) as blocked
      from blocks where blocker_id = any(m.members) and blocked_id = any(m.members)
    ) b
    where c.id = ${conversationId}`;
  if (!row) return null;
  const members = row.members ?? [];
  return { kind: row.kind, members, engaged: new Set(row.engaged ?? []), hidden: hiddenBy(row.blockers ?? [], row.blocked ?? []) };
}

/** Blocks between members (blocker → blocked, pairwise), either way, as who is hidden from whom. */
function hiddenBy(blockers: readonly string[], blocked: readonly string[]): ReadonlyMap<string, ReadonlySet<string>> {
  if (blockers.length === 0) return NOTHING_HIDDEN;
  const hidden = new Map<string, Set<string>>();
  const hide = (from: string, who: string) => (hidden.get(from) ?? hidden.set(from, new Set()).get(from)!).add(who);
  blockers.forEach((blocker, i) => {
    hide(blocker, blocked[i]!);
    hide(blocked[i]!, blocker);
  });
  return hidden;
}

/** Who gets a message `senderId` sends: every member but those hidden from the sender (a block either way). */
export function recipientsOf(info: ConversationInfo, senderId: string): string[] {
  const hidden = info.hidden.get(senderId);
  return hidden ? info.members.filter((m) => !hidden.has(m)) : info.members;
}

/** Reads the conversation from Postgres into the cache; one query per conversation at a time. */
function load(deps: MessagingDeps, cache: Cache, conversationId: string): Promise<ConversationInfo | null> {
  const inFlight = cache.loading.get(conversationId);
  if (inFlight) return inFlight;
  const changesBefore = cache.changes;
  const loaded = query(deps, conversationId)
    .then((info) => {
      if (!info) cache.entries.delete(conversationId);
      else if (cache.changes === changesBefore) {
        if (cache.entries.size >= MAX_ENTRIES) cache.entries.clear();
        cache.entries.set(conversationId, { at: Date.now(), info });
      }
      return info;
    })
    // (a change may have dropped this load and a newer one taken its place: leave that one)
    .finally(() => cache.loading.get(conversationId) === loaded && cache.loading.delete(conversationId));
  cache.loading.set(conversationId, loaded);
  return loaded;
}

/** The refusal of anything done in a conversation the member is not in (or that does not exist: the same answer). */
export function notMember(): AppError {
  return forbidden("not_member", "no such conversation, or you are not in it");
}

/** A conversation of two whose other member deleted their account. */
export function memberGone(): AppError {
  return new AppError(410, "member_gone", "the other member deleted their account");
}

/** The conversation if `userId` is in it, else null. */
export async function conversationInfo(deps: MessagingDeps, conversationId: string, userId: string): Promise<ConversationInfo | null> {
  const cache = cacheFor(deps);
  const hit = cache.entries.get(conversationId);
  if (hit && hit.info.members.includes(userId)) {
    // (load shares a query already in flight; a failed refresh leaves the entry for a later call to retry)
    if (Date.now() - hit.at >= TTL_MS) load(deps, cache, conversationId).catch(() => {});
    return hit.info;
  }
  const pair = `${conversationId}:${userId}`;
  const refusedUntil = cache.refused.get(pair);
  if (refusedUntil !== undefined && performance.now() < refusedUntil) return null;
  const info = await load(deps, cache, conversationId);
  if (info && info.members.includes(userId)) return info;
  if (cache.refused.size >= MAX_REFUSED) cache.refused.clear();
  cache.refused.set(pair, performance.now() + REFUSED_MS);
  return null;
}

/** Where every process hears that a conversation's members changed (one left a group). */
export function membershipChannel(keys: RedisKeys): string {
  return `${keys.prefix}ch:conversations:membership`;
}

export interface MembershipChange {
  conversationId: string;
  /** who was in it (the one who left included): whose presence lists change */
  members?: string[];
}

export async function announceMembershipChange(redis: Redis, keys: RedisKeys, change: MembershipChange): Promise<void> {
  await redis.publish(membershipChannel(keys), JSON.stringify(change));
}

/**
 * Drops the cached entries a change touches: a conversation (a member left it), or every one the
 * members of a block or unblock are both in (who is hidden from whom changed only there).
 */
function forget(cache: Cache, change: { conversationId?: string; members?: readonly string[] }): void {
  cache.changes++;
  cache.refused.clear();
  // a load begun before the change is not kept (changes), nor handed to callers who come after it
  cache.loading.clear();
  if (change.conversationId !== undefined) {
    cache.entries.delete(String(change.conversationId));
    return;
  }
  const members = change.members?.map(String) ?? [];
  if (members.length === 0) return;
  for (const [id, entry] of cache.entries) if (members.every((m) => entry.info.members.includes(m))) cache.entries.delete(id);
}

/**
 * Follows membership changes and blocks on `subscriber` (a connection in subscriber mode), so this
 * process's cache never answers with a member who left or a block it has not heard of for longer
 * than the announcement takes. Resolves once subscribed.
 */
export async function followMembershipChanges(deps: MessagingDeps, subscriber: Redis): Promise<void> {
  const cache = cacheFor(deps);
  const own = membershipChannel(deps.keys);
  const blocks = visibilityChannel(deps.keys);
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== own && channel !== blocks) return;
    try {
      const change = JSON.parse(message) as { conversationId?: string; members?: string[]; engaged?: true };
      // a first message changes who sees whose presence, not who is in or hidden in a conversation
      if (!change.engaged) forget(cache, change);
    } catch {
      cache.changes++;
      cache.entries.clear();
    }
  });
  // announcements may have been missed while the connection was down
  subscriber.on("ready", () => dropMembershipCache(deps));
  await subscriber.subscribe(own, blocks);
}

/** Forgets every cached conversation: announcements may have been missed (pub/sub was down or stale). */
export function dropMembershipCache(deps: MessagingDeps): void {
  const cache = cacheFor(deps);
  cache.changes++;
  cache.loading.clear();
  cache.entries.clear();
  cache.refused.clear();
}
