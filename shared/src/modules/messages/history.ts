import { conversationKindFor, hiddenFrom } from "./conversations.ts";
import { notMember } from "./membership.ts";
import type { MessagingDeps, StoredMessage } from "./types.ts";

/**
 * How many messages past the page a read looks through for ones the viewer may see: in a group with
 * a member the viewer blocked (or who blocked them), a page skips that member's messages, and an
 * unbounded skip read every message of a long conversation for each page.
 */
const HIDDEN_SCAN_FACTOR = 10;

export interface MessagePage {
  messages: StoredMessage[];
  /** where the next (older) page starts, null at the conversation's first message */
  nextBefore: string | null;
}

type Row = { id: string; sender_id: string; client_msg_id: string; body: string; created_at: Date };

function stored(conversationId: string, r: Row): StoredMessage {
  return { id: r.id, conversationId, senderId: r.sender_id, clientMsgId: r.client_msg_id, body: r.body, ts: r.created_at.getTime() };
}

/** Keyset page of a conversation's messages, newest first, strictly before `beforeId`. */
export async function listMessages(
  deps: Pick<MessagingDeps, "sql">,
  viewerId: string,
  conversationId: string,
  beforeId: string | null,
  limit: number,
): Promise<MessagePage> {
  const kind = await conversationKindFor(deps, conversationId, viewerId);
  if (!kind) throw notMember();
  // in a group, what members with a block either way with the viewer wrote is not shown (nor sent live)
  const hidden = kind === "group" ? await hiddenFrom(deps, viewerId) : [];
  if (hidden.length) return visiblePage(deps, conversationId, beforeId, limit, hidden);
  const rows = await deps.sql<Row[]>`
    select id, sender_id, client_msg_id, body, created_at from messages
    where conversation_id = ${conversationId} ${beforeId ? deps.sql`and id < ${beforeId}` : deps.sql``}
    order by id desc
    limit ${limit}`;
  return { messages: rows.map((r) => stored(conversationId, r)), nextBefore: rows.length === limit ? rows.at(-1)!.id : null };
}

/**
 * A page without the hidden senders' messages, looking through at most `limit` × HIDDEN_SCAN_FACTOR
 * messages (ids and senders first, then the bodies of those shown): when those run out before the
 * page is full, the page is shorter and the next one starts where the look stopped.
 */
async function visiblePage(deps: Pick<MessagingDeps, "sql">, conversationId: string, beforeId: string | null, limit: number, hidden: string[]): Promise<MessagePage> {
  const window = limit * HIDDEN_SCAN_FACTOR;
  const scanned = await deps.sql<{ id: string; sender_id: string }[]>`
    select id, sender_id from messages
    where conversation_id = ${conversationId} ${beforeId ? deps.sql`and id < ${beforeId}` : deps.sql``}
    order by id desc
    limit ${window}`;
  const hiddenSet = new Set(hidden);
  const visible = scanned.filter((r) => !hiddenSet.has(r.sender_id));
  const shown = visible.slice(0, limit).map((r) => r.id);
  const rows = shown.length
    ? await deps.sql<Row[]>`
        select id, sender_id, client_msg_id, body, created_at from messages
        where conversation_id = ${conversationId} and id = any(${shown}::bigint[])
        order by id desc`
    : [];
  // the look reached the first message: more only if it saw more than a page; else on from the page or the look
  const nextBefore =
    scanned.length < window ? (visible.length > limit ? shown.at(-1)! : null) : shown.length === limit ? shown.at(-1)! : scanned.at(-1)!.id;
  return { messages: rows.map((r) => stored(conversationId, r)), nextBefore };
}
