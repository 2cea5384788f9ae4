/**
 * Who may see a member's online state. Only members they engaged with — a conversation they
 * created or wrote in — and only while there is no block between the two (either way): someone who
 * writes to a stranger, or adds them to a group, learns nothing of when they are online until they
 * answer. So it is directional:
 *
 * - a member's *audience*: the other members of the conversations they engaged in (told of their
 *   changes, shown their typing) — but not a member who shut a conversation of two against them
 *   with their contact setting (the writer refuses their messages there: nothing else gets through);
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

/** Which side of a shared conversation must have engaged: the member (their audience) or the other (whom they see). */
type Engaged = "member" | "other";

/**
 * The members sharing a conversation with `userId` where `engaged` has engaged, blocks left out:
 * all of them up to the list's size (and whether that was all), or those among `candidates`.
 */
async function partnersWhere(sql: Sql, userId: string, engaged: Engaged, candidates?: readonly string[]): Promise<PartnerList> {
  // the one whose contact setting may shut a conversation of two against the other (the writer's rule)
  const [refuser, sender] = engaged === "member" ? [sql`o.user_id`, sql`${userId}::bigint`] : [sql`${userId}::bigint`, sql`o.user_id`];
  const rows = await sql<{ user_id: string }[]>`
    select distinct o.user_id from conversation_members o
    where o.conversation_id in (
        select conversation_id from conversation_members where user_id = ${userId} ${engaged === "member" ? sql`and engaged` : sql``})
      and o.user_id <> ${userId} ${engaged === "other" ? sql`and o.engaged` : sql``}
      and not (
        exists (select 1 from contact_policies p where p.user_id = ${refuser})
        and exists (select 1 from conversations k where k.id = o.conversation_id and k.kind = 'direct')
        and refuses_message_from(${refuser}, ${sender}, o.conversation_id)
      )
      ${candidates ? sql`and o.user_id = any(${candidates as string[]}::bigint[])` : sql`limit ${MAX_PARTNERS + 1}`}`;
  const ids = candidates ? rows.map((r) => r.user_id) : rows.slice(0, MAX_PARTNERS).map((r) => r.user_id);
  return { ids: await withoutBlocked(sql, userId, ids), complete: candidates !== undefined || rows.length <= MAX_PARTNERS };
}

/** Who may see `userId`'s online state: the other members of the conversations they engaged in. */
export function presenceAudience(sql: Sql, userId: string): Promise<PartnerList> {
  return partnersWhere(sql, userId, "member");
}

/** Which of `candidates` are in `userId`'s audience (for members beyond an incomplete list). */
export async function presenceAudienceAmong(sql: Sql, userId: string, candidates: readonly string[]): Promise<string[]> {
  return candidates.length ? (await partnersWhere(sql, userId, "member", candidates)).ids : [];
}

/** Whose online state `userId` may see: the members who engaged in a conversation with them. */
export function visiblePresences(sql: Sql, userId: string): Promise<PartnerList> {
  return partnersWhere(sql, userId, "other");
}

/** Which of `candidates` `userId` may see (for members beyond an incomplete list). */
export async function visiblePresencesAmong(sql: Sql, userId: string, candidates: readonly string[]): Promise<string[]> {
  return candidates.length ? (await partnersWhere(sql, userId, "other", candidates)).ids : [];
}

/** Who may see whom of `a` and `b` (after an unblock): the same rule as the lists (engaged, no block, not shut). */
export async function presenceBetween(sql: Sql, a: string, b: string): Promise<{ aSeesB: boolean; bSeesA: boolean }> {
  const [aSees, bSees] = await Promise.all([visiblePresencesAmong(sql, a, [b]), visiblePresencesAmong(sql, b, [a])]);
  return { aSeesB: aSees.length > 0, bSeesA: bSees.length > 0 };
}
