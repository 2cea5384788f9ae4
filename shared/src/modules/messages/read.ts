import { conversationInfo, notMember, recipientsOf } from "./membership.ts";
import type { MessagingDeps } from "./types.ts";

/**
 * Moves the member's read marker forward (never back) to the conversation's last message at or
 * below the one named, and, when it moved, pushes the new state to every participant's stream, the
 * reader's other clients included. A read that changes nothing appends nothing, and the marker only
 * ever lands on a message of the conversation: stepping it one id at a time (ids are global, so
 * millions of steps) moved it, and told every participant, once per id; now at most once per
 * message, which its sender paid for. Membership comes from the cache the send path uses.
 */
export async function markRead(deps: MessagingDeps, userId: string, conversationId: string, upToMessageId: string): Promise<void> {
  const conv = await conversationInfo(deps, conversationId, userId);
  if (!conv) throw notMember();
  const [row] = await deps.sql<{ moved_to: string; engaged: boolean }[]>`
    with target as (
      select coalesce((select max(id) from messages where conversation_id = ${conversationId} and id <= ${upToMessageId}::bigint), 0) as up_to
    )
    update conversation_members m
    set last_read_message_id = target.up_to
    from target
    where m.conversation_id = ${conversationId} and m.user_id = ${userId} and m.last_read_message_id < target.up_to
    returning m.last_read_message_id as moved_to, m.engaged`;
  if (!row) return;
  const upTo = row.moved_to;
  // A read marker says when the reader was around: only those who may see the reader's presence
  // get it (the reader engaged here, and not those hidden by a block in a group); the reader's own
  // clients always do.
  const told = row.engaged ? recipientsOf(conv, userId) : [userId];
  await deps.events.appendMany(
    told.map((member) => ({
      userId: member,
      kind: "read" as const,
      data: { conversationId, userId, upToMessageId: upTo },
    })),
  );
}
