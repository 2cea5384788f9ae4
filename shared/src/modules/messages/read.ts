import { forbidden } from "../../errors/index.ts";
import type { MessagingDeps } from "./types.ts";

/**
 * Moves the member's read marker forward (never back) and pushes the new state to every
 * participant's stream, the reader's other clients included.
 */
export async function markRead(deps: MessagingDeps, userId: string, conversationId: string, upToMessageId: string): Promise<void> {
  const [row] = await deps.sql<{ last_read_message_id: string; members: string[] }[]>`
    with upd as (
      update conversation_members
      set last_read_message_id = greatest(last_read_message_id, ${upToMessageId})
      where conversation_id = ${conversationId} and user_id = ${userId}
      returning last_read_message_id
    )
    select (select last_read_message_id from upd) as last_read_message_id,
           (select array_agg(user_id) from conversation_members where conversation_id = ${conversationId}) as members`;
  if (!row?.last_read_message_id) throw forbidden("not_member", "no such conversation, or you are not in it");
  await deps.events.appendMany(
    row.members.map((member) => ({
      userId: member,
      kind: "read" as const,
      data: { conversationId, userId, upToMessageId: row.last_read_message_id },
    })),
  );
}
