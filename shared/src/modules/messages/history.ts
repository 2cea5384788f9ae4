import { conversationKindFor, hiddenFrom } from "./conversations.ts";
import { notMember } from "./membership.ts";
import type { MessagingDeps, StoredMessage } from "./types.ts";

/** Keyset page of a conversation's messages, newest first, strictly before `beforeId`. */
export async function listMessages(
  deps: Pick<MessagingDeps, "sql">,
  viewerId: string,
  conversationId: string,
  beforeId: string | null,
  limit: number,
): Promise<StoredMessage[]> {
  const kind = await conversationKindFor(deps, conversationId, viewerId);
  if (!kind) throw notMember();
  // in a group, what members with a block either way with the viewer wrote is not shown (nor sent live)
  const hidden = kind === "group" ? await hiddenFrom(deps, viewerId) : [];
  const rows = await deps.sql<{ id: string; sender_id: string; client_msg_id: string; body: string; created_at: Date }[]>`
    select id, sender_id, client_msg_id, body, created_at from messages
    where conversation_id = ${conversationId} ${beforeId ? deps.sql`and id < ${beforeId}` : deps.sql``}
      ${hidden.length ? deps.sql`and sender_id <> all(${hidden}::bigint[])` : deps.sql``}
    order by id desc
    limit ${limit}`;
  return rows.map((r) => ({
    id: r.id,
    conversationId,
    senderId: r.sender_id,
    clientMsgId: r.client_msg_id,
    body: r.body,
    ts: r.created_at.getTime(),
  }));
}
