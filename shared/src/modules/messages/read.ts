import { forbidden } from "../../errors/index.ts";
import type { MessagingDeps } from "./types.ts";

/**
 * Moves the member's read marker forward (never back, never past the conversation's last
 * message) and, when it moved, pushes the new state to every participant's stream, the reader's
 * other clients included. A read that changes nothing appends nothing: repeating it cannot flood
 * the other participants' replay windows.
 */
export async function markRead(deps: MessagingDeps, userId: string, conversationId: string, upToMessageId: string): Promise<void> {
  const [row] = await deps.sql<{ member: boolean; moved_to: string | null; members: string[] }[]>`
    with target as (
      select least(${upToMessageId}::bigint,
                   coalesce((select max(id) from messages where conversation_id = ${conversationId}), 0)) as up_to
    ), upd as (
      update conversation_members
      set last_read_message_id = (select up_to from target)
      where conversation_id = ${conversationId} and user_id = ${userId}
        and last_read_message_id < (select up_to from target)
      returning last_read_message_id
    )
    select exists (select 1 from conversation_members where conversation_id = ${conversationId} and user_id = ${userId}) as member,
           (select last_read_message_id from upd) as moved_to,
           (select array_agg(user_id) from conversation_members where conversation_id = ${conversationId}) as members`;
  if (!row?.member) throw forbidden("not_member", "no such conversation, or you are not in it");
  if (row.moved_to === null) return;
  const upTo = row.moved_to;
  await deps.events.appendMany(
    row.members.map((member) => ({
      userId: member,
      kind: "read" as const,
      data: { conversationId, userId, upToMessageId: upTo },
    })),
  );
}
