/**
 * Who may see a member's online state. Only members they engaged with — a conversation they
 * created or wrote in — and only while there is no block between the two (either way): someone who
 * writes to a stranger, or adds them to a group, learns nothing of when they are online until they
 * answer. So it is directional:
 *
 * - a member's *audience*: the other members of the conversations they engaged in (told of their
 *   changes, shown their typing);
 * - what a member may *see*: the members who engaged in a conversation with them (answered in a
 *   presence query).
 */
import type { Sql } from "../../db/index.ts";
import { blockedAmong } from "../social/index.ts";

/** At most this many partners are listed (and told of a member's presence). */
const MAX_PARTNERS = 1000;

export interface PartnerList {
  ids: string[];
  /** false when there are more than the list holds: ask the `…Among` function for the rest */
  complete: boolean;
}

async function withoutBlocked(sql: Sql, userId: string, ids: string[]): Promise<string[]> {
  const blocked = new Set(await blockedAmong(sql, userId, ids));
  return blocked.size ? ids.filter((id) => !blocked.has(id)) : ids;
}

function listOf(rows: { user_id: string }[]): { ids: string[]; complete: boolean } {
  return { ids: rows.slice(0, MAX_PARTNERS).map((r) => r.user_id), complete: rows.length <= MAX_PARTNERS };
}

/** Who may see `userId`'s online state: the other members of the conversations they engaged in. */
export async function presenceAudience(sql: Sql, userId: string): Promise<PartnerList> {
  const rows = await sql<{ user_id: string }[]>`
    select distinct user_id from conversation_members
    where conversation_id in (select conversation_id from conversation_members where user_id = ${userId} and engaged)
      and user_id <> ${userId}
    limit ${MAX_PARTNERS + 1}`;
  const list = listOf(rows);
  return { ids: await withoutBlocked(sql, userId, list.ids), complete: list.complete };
}

/** Which of `candidates` are in `userId`'s audience (for members beyond an incomplete list). */
export async function presenceAudienceAmong(sql: Sql, userId: string, candidates: readonly string[]): Promise<string[]> {
  if (candidates.length === 0) return [];
  const rows = await sql<{ user_id: string }[]>`
    select distinct user_id from conversation_members
    where user_id = any(${candidates as string[]}::bigint[]) and user_id <> ${userId}
      and conversation_id in (select conversation_id from conversation_members where user_id = ${userId} and engaged)`;
  return withoutBlocked(sql, userId, rows.map((r) => r.user_id));
}

/** Whose online state `userId` may see: the members who engaged in a conversation with them. */
export async function visiblePresences(sql: Sql, userId: string): Promise<PartnerList> {
  const rows = await sql<{ user_id: string }[]>`
    select distinct user_id from conversation_members
    where conversation_id in (select conversation_id from conversation_members where user_id = ${userId})
      and user_id <> ${userId} and engaged
    limit ${MAX_PARTNERS + 1}`;
  const list = listOf(rows);
  return { ids: await withoutBlocked(sql, userId, list.ids), complete: list.complete };
}

/** Which of `candidates` `userId` may see (for members beyond an incomplete list). */
export async function visiblePresencesAmong(sql: Sql, userId: string, candidates: readonly string[]): Promise<string[]> {
  if (candidates.length === 0) return [];
  const rows = await sql<{ user_id: string }[]>`
    select distinct user_id from conversation_members
    where user_id = any(${candidates as string[]}::bigint[]) and user_id <> ${userId} and engaged
      and conversation_id in (select conversation_id from conversation_members where user_id = ${userId})`;
  return withoutBlocked(sql, userId, rows.map((r) => r.user_id));
}

/** Who may see whom of `a` and `b` (after an unblock): each one's audience holds the other, and no block is left. */
export async function presenceBetween(sql: Sql, a: string, b: string): Promise<{ aSeesB: boolean; bSeesA: boolean }> {
  if ((await blockedAmong(sql, a, [b])).length > 0) return { aSeesB: false, bSeesA: false };
  const rows = await sql<{ user_id: string }[]>`
    select distinct theirs.user_id from conversation_members mine
    join conversation_members theirs on theirs.conversation_id = mine.conversation_id and theirs.user_id <> mine.user_id
    where mine.user_id = ${a} and theirs.user_id = ${b} and theirs.engaged
    union
    select distinct mine.user_id from conversation_members mine
    join conversation_members theirs on theirs.conversation_id = mine.conversation_id and theirs.user_id = ${b}
    where mine.user_id = ${a} and mine.engaged`;
  const engaged = new Set(rows.map((r) => r.user_id));
  return { aSeesB: engaged.has(b), bSeesA: engaged.has(a) };
}
