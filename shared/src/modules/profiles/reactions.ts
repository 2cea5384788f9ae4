/**
 * Profile reactions: one reaction per member per profile (`profile_reactions`, 004). Reacting
 * again replaces the reaction; the write reports whether anything changed so the caller notifies
 * only on a new or different reaction. Counts come from one grouped index-only scan.
 */
import type { Sql } from "../../db/index.ts";

export const REACTIONS = ["like", "heart", "fire", "wink"] as const;
export type Reaction = (typeof REACTIONS)[number];
export type ReactionCounts = Record<Reaction, number>;

export interface ReactionSummary {
  counts: ReactionCounts;
  /** the viewer's own reaction */
  mine: Reaction | null;
}

export function isReaction(value: unknown): value is Reaction {
  return typeof value === "string" && (REACTIONS as readonly string[]).includes(value);
}

/** Every reaction with its count (zero when nobody chose it), from `{reaction: n}` as stored. */
export function toCounts(raw: Readonly<Record<string, number>> | null | undefined): ReactionCounts {
  const counts = { like: 0, heart: 0, fire: 0, wink: 0 } satisfies ReactionCounts;
  if (raw) for (const r of REACTIONS) counts[r] = raw[r] ?? 0;
  return counts;
}

export async function reactionCounts(sql: Sql, profileId: string): Promise<ReactionCounts> {
  const rows = await sql<{ reaction: Reaction; n: number }[]>`
    select reaction::text as reaction, count(*)::int as n from profile_reactions where profile_id = ${profileId} group by reaction`;
  return toCounts(Object.fromEntries(rows.map((r) => [r.reaction, r.n])));
}

/**
 * Creates or replaces the actor's reaction to the profile; a repeat changes nothing. True when
 * the reaction is new or different from the one the actor had.
 */
export async function setReaction(sql: Sql, profileId: string, actorId: string, reaction: Reaction): Promise<boolean> {
  const rows = await sql`
    insert into profile_reactions as p (profile_id, actor_id, reaction, created_at)
    values (${profileId}, ${actorId}, ${reaction}::profile_reaction, now())
    on conflict (profile_id, actor_id) do update set reaction = excluded.reaction, created_at = excluded.created_at
    where p.reaction <> excluded.reaction
    returning 1 as one`;
  return rows.length > 0;
}

/** Removes the actor's reaction; true when there was one. */
export async function removeReaction(sql: Sql, profileId: string, actorId: string): Promise<boolean> {
  const rows = await sql`delete from profile_reactions where profile_id = ${profileId} and actor_id = ${actorId} returning 1 as one`;
  return rows.length > 0;
}
