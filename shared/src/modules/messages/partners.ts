/**
 * Who may see a member's online state: the members they share a conversation with, less anyone
 * with a block between the two (either way), who must not learn when the other is around.
 */
import type { Sql } from "../../db/index.ts";
import { blockedAmong } from "../social/index.ts";

/** At most this many partners are told of a member's presence. */
const MAX_PARTNERS = 1000;

export async function presencePartners(sql: Sql, userId: string): Promise<string[]> {
  const rows = await sql<{ user_id: string }[]>`
    select distinct user_id from conversation_members
    where conversation_id in (select conversation_id from conversation_members where user_id = ${userId})
      and user_id <> ${userId}
    limit ${MAX_PARTNERS}`;
  const ids = rows.map((r) => r.user_id);
  const blocked = new Set(await blockedAmong(sql, userId, ids));
  return blocked.size ? ids.filter((id) => !blocked.has(id)) : ids;
}
