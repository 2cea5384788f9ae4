/**
 * Who is in a conversation, cached in-process: membership is read on every send and changes only
 * when a conversation is created, so a short-lived cache saves a query per message. A sender not
 * found in the cached list is re-checked against Postgres before being refused.
 *
 * An entry past its age is still answered from, while one query refreshes it in the background:
 * entries loaded together (every conversation of a busy replica, in its first seconds) expire
 * together, and making each of those sends wait for its own query put a minute-periodic stall of
 * hundreds of queries in front of the writer. Members are only ever added, and an added one is
 * looked up at once, so an old list can only lack someone who is then re-checked.
 */
import type { MessagingDeps } from "./types.ts";

interface ConversationInfo {
  kind: "direct" | "group";
  members: string[];
}

interface Entry {
  at: number;
  info: ConversationInfo;
}

const TTL_MS = 60_000;
const MAX_ENTRIES = 100_000;

interface Cache {
  entries: Map<string, Entry>;
  /** loads in flight: concurrent misses for one conversation share one query */
  loading: Map<string, Promise<ConversationInfo | null>>;
}
const caches = new WeakMap<MessagingDeps, Cache>();

function cacheFor(deps: MessagingDeps): Cache {
  let cache = caches.get(deps);
  if (!cache) caches.set(deps, (cache = { entries: new Map(), loading: new Map() }));
  return cache;
}

async function query(deps: MessagingDeps, conversationId: string): Promise<ConversationInfo | null> {
  const [row] = await deps.sql<{ kind: "direct" | "group"; members: string[] | null }[]>`
    select kind, (select array_agg(user_id) from conversation_members where conversation_id = ${conversationId}) as members
    from conversations where id = ${conversationId}`;
  return row ? { kind: row.kind, members: row.members ?? [] } : null;
}

/** Reads the conversation from Postgres into the cache; one query per conversation at a time. */
function load(deps: MessagingDeps, cache: Cache, conversationId: string): Promise<ConversationInfo | null> {
  const inFlight = cache.loading.get(conversationId);
  if (inFlight) return inFlight;
  const loaded = query(deps, conversationId)
    .then((info) => {
      if (!info) cache.entries.delete(conversationId);
      else {
        if (cache.entries.size >= MAX_ENTRIES) cache.entries.clear();
        cache.entries.set(conversationId, { at: Date.now(), info });
      }
      return info;
    })
    .finally(() => cache.loading.delete(conversationId));
  cache.loading.set(conversationId, loaded);
  return loaded;
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
  const info = await load(deps, cache, conversationId);
  return info && info.members.includes(userId) ? info : null;
}
