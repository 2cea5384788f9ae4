/**
 * The social graph: follows and blocks. The api's social routes, the chat tier (no messages
 * to or from a blocked member) and the notification worker (followers of an actor) all go
 * through these functions, never through the tables.
 */
import type { Sql, TransactionSql } from "../../db/index.ts";

export interface FollowEdge {
  /** the other member: follower when listing followers, followee when listing following */
  memberId: string;
  edgeId: string;
  createdAt: string;
}

export async function isBlockedEitherWay(sql: Sql, a: string, b: string): Promise<boolean> {
  const [row] = await sql<{ blocked: boolean }[]>`
    select exists (
      select 1 from blocks where (blocker_id = ${a} and blocked_id = ${b}) or (blocker_id = ${b} and blocked_id = ${a})
    ) as blocked`;
  return row?.blocked ?? false;
}

export async function hasBlocked(sql: Sql, blocker: string, blocked: string): Promise<boolean> {
  const [row] = await sql<{ one: number }[]>`select 1 as one from blocks where blocker_id = ${blocker} and blocked_id = ${blocked}`;
  return !!row;
}

/** How `viewer` stands towards `other`: the profile page's Follow and Block buttons, and whether `other` hides from them. */
export interface Relation {
  following: boolean;
  /** the viewer blocked them */
  blocked: boolean;
  /** they blocked the viewer */
  blockedBy: boolean;
  /** they take new conversations only from members they follow, and do not follow the viewer */
  refusesConversations: boolean;
}

export async function relationOf(sql: Sql, viewer: string, other: string): Promise<Relation> {
  const [row] = await sql<Relation[]>`
    select
      exists (select 1 from follows where follower_id = ${viewer} and followee_id = ${other}) as following,
      exists (select 1 from blocks where blocker_id = ${viewer} and blocked_id = ${other}) as blocked,
      exists (select 1 from blocks where blocker_id = ${other} and blocked_id = ${viewer}) as "blockedBy",
      refuses_conversations_from(${other}, ${viewer}) as "refusesConversations"`;
  return row ?? { following: false, blocked: false, blockedBy: false, refusesConversations: false };
}

export interface FollowCounts {
  followerCount: number;
  followingCount: number;
}

/** How many follow a member and how many they follow (kept by triggers on `follows`: one row read). */
export async function followCountsOf(sql: Sql, memberId: string): Promise<FollowCounts> {
  const [row] = await sql<{ followers: string; following: string }[]>`
    select followers, following from follow_counts where user_id = ${memberId}`;
  return { followerCount: Number(row?.followers ?? 0), followingCount: Number(row?.following ?? 0) };
}

/** Who may start a conversation with a member or add them to a group. */
export type ConversationPolicy = "everyone" | "following";
export const CONVERSATION_POLICIES: readonly ConversationPolicy[] = ["everyone", "following"];

export async function conversationPolicyOf(sql: Sql, memberId: string): Promise<ConversationPolicy> {
  const [row] = await sql<{ conversations: ConversationPolicy }[]>`select conversations from contact_policies where user_id = ${memberId}`;
  return row?.conversations ?? "everyone";
}

export async function setConversationPolicy(sql: Sql, memberId: string, policy: ConversationPolicy): Promise<void> {
  if (policy === "everyone") await sql`delete from contact_policies where user_id = ${memberId}`;
  else await sql`
    insert into contact_policies (user_id, conversations) values (${memberId}, ${policy})
    on conflict (user_id) do update set conversations = excluded.conversations`;
}

/** Of `memberIds`, those who take new conversations only from members they follow, and do not follow `starterId`. */
export async function refusingConversationsFrom(sql: Sql, starterId: string, memberIds: readonly string[]): Promise<string[]> {
  if (memberIds.length === 0) return [];
  const rows = await sql<{ user_id: string }[]>`
    select m as user_id from unnest(${memberIds as string[]}::bigint[]) as m
    where refuses_conversations_from(m, ${starterId})`;
  return rows.map((r) => r.user_id);
}

/** Any pair among `memberIds` with a block between `memberId` and them. */
export async function blockedAmong(sql: Sql, memberId: string, memberIds: readonly string[]): Promise<string[]> {
  if (memberIds.length === 0) return [];
  const rows = await sql<{ other: string }[]>`
    select blocked_id as other from blocks where blocker_id = ${memberId} and blocked_id = any(${memberIds as string[]}::bigint[])
    union
    select blocker_id as other from blocks where blocked_id = ${memberId} and blocker_id = any(${memberIds as string[]}::bigint[])`;
  return rows.map((r) => r.other);
}

/**
 * A follow and a block of the same two members take this lock first, so they run one after the
 * other: a follow checked before a block commits would otherwise be written after the block
 * ended the follows, and outlive it.
 */
function lockPair(tx: TransactionSql<Record<string, never>>, a: string, b: string) {
  return tx`select pg_advisory_xact_lock(hashtextextended(least(${a}::bigint, ${b}::bigint)::text || ':' || greatest(${a}::bigint, ${b}::bigint)::text, 7300110002))`;
}

export type FollowOutcome = "created" | "exists" | "blocked";

/** Follows unless a block stands either way (checked under the pair's lock). */
export async function follow(sql: Sql, follower: string, followee: string): Promise<FollowOutcome> {
  return sql.begin(async (tx) => {
    await lockPair(tx, follower, followee);
    const rows = await tx`
      insert into follows (follower_id, followee_id)
      select ${follower}, ${followee}
      where not exists (
        select 1 from blocks
        where (blocker_id = ${follower} and blocked_id = ${followee}) or (blocker_id = ${followee} and blocked_id = ${follower})
      )
      on conflict do nothing returning id`;
    if (rows.length > 0) return "created";
    const [row] = await tx<{ following: boolean }[]>`
      select exists (select 1 from follows where follower_id = ${follower} and followee_id = ${followee}) as following`;
    return row?.following ? "exists" : "blocked";
  }) as Promise<FollowOutcome>;
}

export async function unfollow(sql: Sql, follower: string, followee: string): Promise<boolean> {
  const rows = await sql`delete from follows where follower_id = ${follower} and followee_id = ${followee} returning id`;
  return rows.length > 0;
}

/** Blocking also removes follows in both directions, atomically. True when the block is new. */
export async function block(sql: Sql, blocker: string, blocked: string): Promise<boolean> {
  return sql.begin(async (tx) => {
    await lockPair(tx, blocker, blocked);
    const created = await tx`insert into blocks (blocker_id, blocked_id) values (${blocker}, ${blocked}) on conflict do nothing returning 1`;
    // One statement for both directions: the counters' trigger (008_follow_counts.sql) locks both
    // members' counts until commit, so a second statement on follows after it would wait on rows
    // that a concurrent unfollow holds while it waits on those counts — a deadlock.
    await tx`
      delete from follows
      where (follower_id = ${blocker} and followee_id = ${blocked}) or (follower_id = ${blocked} and followee_id = ${blocker})`;
    return created.length > 0;
  }) as Promise<boolean>;
}

/** Of `memberIds`, those who blocked `memberId` (for answers that must not say so). */
export async function blockersAmong(sql: Sql, memberId: string, memberIds: readonly string[]): Promise<string[]> {
  if (memberIds.length === 0) return [];
  const rows = await sql<{ blocker_id: string }[]>`
    select blocker_id from blocks where blocked_id = ${memberId} and blocker_id = any(${memberIds as string[]}::bigint[])`;
  return rows.map((r) => r.blocker_id);
}

export async function unblock(sql: Sql, blocker: string, blocked: string): Promise<boolean> {
  const rows = await sql`delete from blocks where blocker_id = ${blocker} and blocked_id = ${blocked} returning blocker_id`;
  return rows.length > 0;
}

/** Keyset page of followers (direction "followers") or followees ("following"), newest first. */
export async function listFollowEdges(
  sql: Sql,
  memberId: string,
  direction: "followers" | "following",
  beforeEdgeId: string | null,
  limit: number,
): Promise<FollowEdge[]> {
  const rows =
    direction === "followers"
      ? await sql<{ id: string; member: string; created_at: Date }[]>`
          select id, follower_id as member, created_at from follows
          where followee_id = ${memberId} ${beforeEdgeId ? sql`and id < ${beforeEdgeId}` : sql``}
          order by id desc limit ${limit}`
      : await sql<{ id: string; member: string; created_at: Date }[]>`
          select id, followee_id as member, created_at from follows
          where follower_id = ${memberId} ${beforeEdgeId ? sql`and id < ${beforeEdgeId}` : sql``}
          order by id desc limit ${limit}`;
  return rows.map((r) => ({ memberId: r.member, edgeId: r.id, createdAt: r.created_at.toISOString() }));
}

/** Fan-out scan: follower ids of `memberId` after `afterEdgeId`, in edge order. */
export async function followerIdsPage(
  sql: Sql,
  memberId: string,
  afterEdgeId: string | null,
  limit: number,
): Promise<{ ids: string[]; lastEdgeId: string | null }> {
  const rows = await sql<{ id: string; follower_id: string }[]>`
    select id, follower_id from follows
    where followee_id = ${memberId} ${afterEdgeId ? sql`and id > ${afterEdgeId}` : sql``}
    order by id limit ${limit}`;
  return { ids: rows.map((r) => r.follower_id), lastEdgeId: rows.at(-1)?.id ?? null };
}

export async function listBlocked(sql: Sql, blocker: string, limit = 500): Promise<{ memberId: string; createdAt: string }[]> {
  const rows = await sql<{ blocked_id: string; created_at: Date }[]>`
    select blocked_id, created_at from blocks where blocker_id = ${blocker} order by created_at desc limit ${limit}`;
  return rows.map((r) => ({ memberId: r.blocked_id, createdAt: r.created_at.toISOString() }));
}
