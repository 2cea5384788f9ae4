/**
 * Member lookups every service needs (the handle and display name that render a message, a
 * notification or a follower list). Batched: one query for any number of ids, never one per row.
 * Also the profile read with its reactions (reactions.ts).
 */
import type { Sql } from "../../db/index.ts";
import { forgetMemberCard } from "./card-cache.ts";
import { toCounts, type Reaction, type ReactionSummary } from "./reactions.ts";

export interface MemberCard {
  id: string;
  handle: string;
  displayName: string;
}

export interface PublicProfile extends MemberCard {
  bio: string;
  createdAt: string;
}

/** What a handle may look like: anything else is not looked up. */
const HANDLE = /^[a-z0-9_]{3,30}$/;

export async function findMemberIdByHandle(sql: Sql, handle: string): Promise<string | null> {
  if (!HANDLE.test(handle)) return null;
  const [row] = await sql<{ id: string }[]>`select id from users where handle = ${handle}`;
  return row?.id ?? null;
}

/** Handle → member id for the handles that exist, in one statement. */
export async function findMemberIdsByHandles(sql: Sql, handles: readonly string[]): Promise<Map<string, string>> {
  const valid = [...new Set(handles.filter((h) => HANDLE.test(h)))];
  if (valid.length === 0) return new Map();
  const rows = await sql<{ id: string; handle: string }[]>`select id, handle from users where handle = any(${valid}::text[])`;
  return new Map(rows.map((r) => [r.handle, r.id]));
}

export interface ProfileForViewer extends PublicProfile {
  reactions: ReactionSummary;
}

/**
 * The profile read: the member, the reaction counts (one grouped index-only scan) and the
 * viewer's own reaction (primary key), in one statement.
 */
export async function findProfileForViewer(sql: Sql, handle: string, viewerId: string): Promise<ProfileForViewer | null> {
  if (!HANDLE.test(handle)) return null;
  const [row] = await sql<{
    id: string; handle: string; display_name: string; bio: string; created_at: Date;
    counts: Record<string, number> | null; mine: Reaction | null;
  }[]>`
    select u.id, u.handle, u.display_name, u.bio, u.created_at,
      (select json_object_agg(g.reaction, g.n) from (
         select r.reaction, count(*)::int as n from profile_reactions r where r.profile_id = u.id group by r.reaction
       ) g) as counts,
      (select m.reaction::text from profile_reactions m where m.profile_id = u.id and m.actor_id = ${viewerId}) as mine
    from users u where u.handle = ${handle}`;
  if (!row) return null;
  return {
    id: row.id,
    handle: row.handle,
    displayName: row.display_name,
    bio: row.bio,
    createdAt: row.created_at.toISOString(),
    reactions: { counts: toCounts(row.counts), mine: row.mine },
  };
}

export async function getMemberCards(sql: Sql, ids: readonly string[]): Promise<Map<string, MemberCard>> {
  const unique = [...new Set(ids)];
  const out = new Map<string, MemberCard>();
  if (unique.length === 0) return out;
  const rows = await sql<{ id: string; handle: string; display_name: string }[]>`
    select id, handle, display_name from users where id = any(${unique}::bigint[])`;
  for (const r of rows) out.set(r.id, { id: r.id, handle: r.handle, displayName: r.display_name });
  return out;
}

/** The member's own display name and bio as stored (what an edit changes). */
export async function ownProfileText(sql: Sql, userId: string): Promise<{ displayName: string; bio: string }> {
  const [row] = await sql<{ display_name: string; bio: string }[]>`select display_name, bio from users where id = ${userId}`;
  return { displayName: row?.display_name ?? "", bio: row?.bio ?? "" };
}

export async function updateProfile(sql: Sql, userId: string, patch: { displayName?: string; bio?: string }): Promise<void> {
  if (patch.displayName !== undefined) await sql`update users set display_name = ${patch.displayName} where id = ${userId}`;
  if (patch.bio !== undefined) await sql`update users set bio = ${patch.bio} where id = ${userId}`;
  forgetMemberCard(userId);
}

export * from "./reactions.ts";
export { staffLookalike } from "./impersonation.ts";
export { getMemberCardsCached, forgetMemberCard } from "./card-cache.ts";
