/**
 * Who may see a member's online state: the members they share a conversation with, less anyone
 * with a block between the two (either way), who must not learn when the other is around.
 */
import type { Sql } from "../../db/index.ts";
import { blockedAmong } from "../social/index.ts";

/** At most this many partners are listed (and told of a member's presence). */
const MAX_PARTNERS = 1000;

export interface PartnerList {
  ids: string[];
  /** false when the member has more partners than the list holds: ask `presencePartnersAmong` for the rest */
  complete: boolean;
}

async function withoutBlocked(sql: Sql, userId: string, ids: string[]): Promise<string[]> {
  const blocked = new Set(await blockedAmong(sql, userId, ids));
  return blocked.size ? ids.filter((id) => !blocked.has(id)) : ids;
}

export async function presencePartners(sql: Sql, userId: string): Promise<PartnerList> {
  const rows = await sql<{ user_id: string }[]>`
    select distinct user_id from conversation_members
    where conversation_id in (select conversation_id from conversation_members where user_id = ${userId})
      and user_id <> ${userId}
    limit ${MAX_PARTNERS + 1}`;
  const ids = rows.slice(0, MAX_PARTNERS).map((r) => r.user_id);
  return { ids: await withoutBlocked(sql, userId, ids), complete: rows.length <= MAX_PARTNERS };
}

/** Which of `candidates` are `userId`'s presence partners, for members beyond an incomplete list. */
export async function presencePartnersAmong(sql: Sql, userId: string, candidates: readonly string[]): Promise<string[]> {
  if (candidates.length === 0) return [];
  const rows = await sql<{ user_id: string }[]>`
    select distinct user_id from conversation_members
    where user_id = any(${candidates as string[]}::bigint[]) and user_id <> ${userId}
      and conversation_id in (select conversation_id from conversation_members where user_id = ${userId})`;
  return withoutBlocked(sql, userId, rows.map((r) => r.user_id));
}

/** Whether `a` and `b` are in a conversation together (blocks aside). */
export async function shareAConversation(sql: Sql, a: string, b: string): Promise<boolean> {
  const [shared] = await sql<{ one: number }[]>`
    select 1 as one from conversation_members mine
    join conversation_members theirs on theirs.conversation_id = mine.conversation_id and theirs.user_id = ${b}
    where mine.user_id = ${a}
    limit 1`;
  return shared !== undefined;
}

/** Whether `a` and `b` may see each other's online state: a conversation in common, no block either way. */
export async function arePresencePartners(sql: Sql, a: string, b: string): Promise<boolean> {
  return (await shareAConversation(sql, a, b)) && (await blockedAmong(sql, a, [b])).length === 0;
}
