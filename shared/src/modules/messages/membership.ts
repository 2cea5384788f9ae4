/**
 * Who is in a conversation, cached in-process: membership is read on every send and changes only
 * when a conversation is created, so a short-lived cache saves a query per message. A sender not
 * found in the cached list is re-checked against Postgres before being refused.
 */
import type { MessagingDeps } from "./types.ts";

interface ConversationInfo {
  kind: "direct" | "group";
  members: string[];
}

const TTL_MS = 60_000;
const MAX_ENTRIES = 100_000;
const caches = new WeakMap<MessagingDeps, Map<string, { at: number; info: ConversationInfo }>>();

async function load(deps: MessagingDeps, conversationId: string): Promise<ConversationInfo | null> {
  const [row] = await deps.sql<{ kind: "direct" | "group"; members: string[] | null }[]>`
    select kind, (select array_agg(user_id) from conversation_members where conversation_id = ${conversationId}) as members
    from conversations where id = ${conversationId}`;
  return row ? { kind: row.kind, members: row.members ?? [] } : null;
}

/** The conversation if `userId` is in it, else null. */
export async function conversationInfo(deps: MessagingDeps, conversationId: string, userId: string): Promise<ConversationInfo | null> {
  let cache = caches.get(deps);
  if (!cache) caches.set(deps, (cache = new Map()));
  const hit = cache.get(conversationId);
  if (hit && Date.now() - hit.at < TTL_MS && hit.info.members.includes(userId)) return hit.info;
  const info = await load(deps, conversationId);
  if (!info) return null;
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(conversationId, { at: Date.now(), info });
  return info.members.includes(userId) ? info : null;
}
