import { forbidden } from "../../errors/index.ts";
import { conversationInfo, recipientsOf } from "./membership.ts";
import type { MessagingDeps } from "./types.ts";

/**
 * Moves the member's read marker forward (never back, never past the conversation's last
 * message) and, when it moved, pushes the new state to every participant's stream, the reader's
 * other clients included. A read that changes nothing appends nothing: repeating it cannot flood
 * the other participants' replay windows. Membership comes from the cache the send path uses.
 */
export async function markRead(deps: MessagingDeps, userId: string, conversationId: string, upToMessageId: string): Promise<void> {
  const conv = await conversationInfo(deps, conversationId, userId);
  if (!conv) throw forbidden("not_member", "no such conversation, or you are not in it");
  const [row] = await deps.sql<{ moved_to: string }[]>`
    with target as (
      select least(${upToMessageId}::bigint,
                   coalesce((select max(id) from messages where conversation_id = ${conversationId}), 0)) as up_to
    )
    update conversation_members m
    set last_read_message_id = target.up_to
    from target
    where m.conversation_id = ${conversationId} and m.user_id = ${userId} and m.last_read_message_id < target.up_to
    returning m.last_read_message_id as moved_to`;
  if (!row) return;
  const upTo = row.moved_to;
  await deps.events.appendMany(
    // (in a group, not to members hidden from the reader by a block)
    recipientsOf(conv, userId).map((member) => ({
      userId: member,
      kind: "read" as const,
      data: { conversationId, userId, upToMessageId: upTo },
    })),
  );
}
