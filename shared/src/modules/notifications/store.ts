/**
 * Every statement the module runs on `notifications`. Each one is served by an index of the
 * table (see 003_notifications.sql): `(user_id, dedupe_key, created_at)` for writes,
 * `(user_id, seq desc)` for lists (latest activity first), `(user_id, id) where read_at is null` for
 * unread state.
 */
import type { Sql } from "../../db/index.ts";
import { GROUP_ACTORS_KEPT, GROUP_EVENT_KEYS_KEPT, type NotificationRow, type NotificationType } from "./types.ts";

interface RawRow {
  id: string;
  seq: string;
  user_id: string;
  type: NotificationType;
  actor_id: string | null;
  actor_ids: string[] | null;
  subject_id: string | null;
  count: number;
  created_at: Date;
  updated_at: Date | null;
  read_at: Date | null;
}

function toRow(r: RawRow): NotificationRow {
  return {
    id: r.id,
    seq: r.seq,
    userId: r.user_id,
    type: r.type,
    actorId: r.actor_id,
    actorIds: r.actor_ids,
    subjectId: r.subject_id,
    count: r.count,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    readAt: r.read_at,
  };
}

export interface GroupedWrite {
  userId: string;
  type: NotificationType;
  actorId: string | null;
  subjectId: string | null;
  groupKey: string;
  eventKey: string;
  bucketStart: Date;
  occurredAt: Date;
  /** events this write stands for (messages counted while its job waited); 1 when absent */
  events?: number;
}

export interface WriteOutcome {
  row: NotificationRow;
  /** +1 when the write made one more row unread, else 0 */
  unreadDelta: number;
}

/**
 * Insert the group's row or fold the event into it (count + 1, unread again). The actor leads the
 * group only when its event is the newest: jobs run concurrently and retries run late, so the
 * order they reach here is not the order members acted in. A late event's actor joins at the end of
 * the actors shown (the array keeps no times, so among the older ones its place is approximate).
 * Null when the event was already counted (a retry or a duplicate).
 *
 * In one transaction: insert, or lock the existing row and then fold. Whether the badge moves
 * (`unreadDelta`) depends on the row's state just before this write, which one statement cannot
 * tell under concurrency — two jobs starting a group at once both saw no row in their snapshot and
 * both counted +1 (a badge one above Postgres, seen by fault injection). The lock makes the second
 * wait for the first and read the row it left.
 */
export async function upsertGrouped(sql: Sql, w: GroupedWrite): Promise<WriteOutcome | null> {
  const actors = w.actorId ? [w.actorId] : [];
  const events = w.events ?? 1;
  return sql.begin(async (tx) => {
    // once per event, whatever happened to an earlier attempt after its commit (migration 015)
    const [first] = await tx`
      insert into notification_counted (user_id, event_key) values (${w.userId}, ${w.eventKey})
      on conflict (user_id, event_key) do nothing
      returning 1`;
    if (!first) return null;
    const [inserted] = await tx<RawRow[]>`
      insert into notifications (user_id, type, actor_id, actor_ids, subject_id, dedupe_key, event_keys, count, created_at, updated_at)
      values (${w.userId}, ${w.type}, ${w.actorId}, ${actors}::bigint[], ${w.subjectId}, ${w.groupKey},
              array[${w.eventKey}]::text[], ${events}, ${w.bucketStart}, ${w.occurredAt})
      on conflict (user_id, dedupe_key, created_at) do nothing
      returning id, seq, user_id, type, actor_id, actor_ids, subject_id, count, created_at, updated_at, read_at`;
    if (inserted) return { row: toRow(inserted), unreadDelta: 1 };
    const [before] = await tx<{ was_read: boolean }[]>`
      select read_at is not null as was_read from notifications
      where user_id = ${w.userId} and dedupe_key = ${w.groupKey} and created_at = ${w.bucketStart}
      for update`;
    if (!before) return null;
    const [folded] = await tx<RawRow[]>`
      update notifications as n set
        count = n.count + ${events}::int,
        actor_id = case when ${w.actorId}::bigint is not null and ${w.occurredAt}::timestamptz >= n.updated_at then ${w.actorId}::bigint
                   else coalesce(n.actor_id, ${w.actorId}::bigint) end,
        actor_ids = case
          when ${w.actorId}::bigint is null then n.actor_ids
          when ${w.occurredAt}::timestamptz >= n.updated_at
            then (array[${w.actorId}::bigint] || array_remove(n.actor_ids, ${w.actorId}::bigint))[1:${GROUP_ACTORS_KEPT}]
          when ${w.actorId}::bigint = any(n.actor_ids) then n.actor_ids
          else (n.actor_ids || array[${w.actorId}::bigint])[1:${GROUP_ACTORS_KEPT}] end,
        event_keys = (array[${w.eventKey}]::text[] || n.event_keys)[1:${GROUP_EVENT_KEYS_KEPT}],
        updated_at = greatest(n.updated_at, ${w.occurredAt}::timestamptz),
        seq = nextval('notifications_seq'),
        read_at = null
      where n.user_id = ${w.userId} and n.dedupe_key = ${w.groupKey} and n.created_at = ${w.bucketStart}
        and not (${w.eventKey} = any(n.event_keys))
      returning id, seq, user_id, type, actor_id, actor_ids, subject_id, count, created_at, updated_at, read_at`;
    return folded ? { row: toRow(folded), unreadDelta: before.was_read ? 1 : 0 } : null;
  }) as Promise<WriteOutcome | null>;
}

export interface SingleWrite {
  userId: string;
  type: NotificationType;
  actorId: string | null;
  subjectId: string | null;
  dedupeKey: string;
  occurredAt: Date;
}

/** One ungrouped row; null when its dedupe key was already written. */
export async function insertSingle(sql: Sql, w: SingleWrite): Promise<WriteOutcome | null> {
  const [r] = await sql<RawRow[]>`
    insert into notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at)
    values (${w.userId}, ${w.type}, ${w.actorId}, ${w.subjectId}, ${w.dedupeKey}, ${w.occurredAt})
    on conflict (user_id, dedupe_key, created_at) do nothing
    returning id, seq, user_id, type, actor_id, actor_ids, subject_id, count, created_at, updated_at, read_at`;
  return r ? { row: toRow(r), unreadDelta: 1 } : null;
}

export interface BatchWrite {
  userIds: readonly string[];
  type: NotificationType;
  actorId: string | null;
  subjectId: string | null;
  dedupeKey: string;
  occurredAt: Date;
}

/**
 * The batch statement's rows: recipients who muted the type are skipped, everyone else gets a row.
 * The ids travel as one `{1,2,…}` text parameter (they are decimal strings already), which is
 * cheaper for the client than serializing a 5,000-element array parameter.
 */
function batchRows(sql: Sql, w: BatchWrite) {
  return sql`
    select r.uid, ${w.type}::notification_type, ${w.actorId}::bigint, ${w.subjectId}::bigint, ${w.dedupeKey}::text, ${w.occurredAt}::timestamptz
    from unnest(${`{${w.userIds.join(",")}}`}::bigint[]) as r(uid)
    where not exists (
      select 1 from notification_settings s where s.user_id = r.uid and ${w.type}::notification_type = any(s.muted)
    )`;
}

/** Postgres' unique_violation: here always the dedupe index (the table has no other unique index). */
function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";
}

/**
 * One statement for a whole batch of recipients: recipients who muted the type are skipped,
 * recipients who already have this event are skipped (a resumed job), the rest get a row.
 *
 * Optimistic: the batch is first written by a plain INSERT, which the unique dedupe index still
 * guards but which costs about half the server CPU of `ON CONFLICT DO NOTHING` (no speculative
 * insertion per row). A batch that meets a row already written (a resumed or repeated job — the
 * insert stops at its first conflicting row, and a batch is committed whole or not at all, so
 * this is usually the first row) is rolled back by Postgres and written again with
 * `ON CONFLICT DO NOTHING`, which skips exactly the rows that exist. Either way each
 * (recipient, dedupe key) has one row, and only the rows this call wrote are returned.
 */
export async function insertBatch(sql: Sql, w: BatchWrite): Promise<{ id: string; userId: string; seq: string }[]> {
  if (w.userIds.length === 0) return [];
  // The written rows come back as two arrays in one row (as text): parsing 5,000 result rows
  // was a large share of the worker's CPU; both aggregates read the same rows in the same order.
  let out: { ids: string; uids: string; seqs: string }[];
  try {
    out = await sql<{ ids: string; uids: string; seqs: string }[]>`
      with ins as (
        insert into notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at)
        ${batchRows(sql, w)}
        returning id, user_id, seq
      ) select coalesce(array_agg(id)::text, '{}') as ids, coalesce(array_agg(user_id)::text, '{}') as uids, coalesce(array_agg(seq)::text, '{}') as seqs from ins`;
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    out = await sql<{ ids: string; uids: string; seqs: string }[]>`
      with ins as (
        insert into notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at)
        ${batchRows(sql, w)}
        on conflict (user_id, dedupe_key, created_at) do nothing
        returning id, user_id, seq
      ) select coalesce(array_agg(id)::text, '{}') as ids, coalesce(array_agg(user_id)::text, '{}') as uids, coalesce(array_agg(seq)::text, '{}') as seqs from ins`;
  }
  const ids = bigintArray(out[0]!.ids);
  const uids = bigintArray(out[0]!.uids);
  const seqs = bigintArray(out[0]!.seqs);
  return ids.map((id, i) => ({ id, userId: uids[i]!, seq: seqs[i]! }));
}

/**
 * The rows a batch's recipients already have (an earlier attempt of the same page wrote them):
 * found by the unique key the batch insert meets, so one index probe per recipient.
 */
export async function existingBatchRows(sql: Sql, w: { userIds: readonly string[]; dedupeKey: string; occurredAt: Date }): Promise<{ id: string; userId: string; seq: string }[]> {
  if (w.userIds.length === 0) return [];
  const rows = await sql<{ id: string; user_id: string; seq: string }[]>`
    select id, user_id, seq from notifications
    where user_id = any(${w.userIds as string[]}::bigint[]) and dedupe_key = ${w.dedupeKey} and created_at = ${w.occurredAt}`;
  return rows.map((r) => ({ id: r.id, userId: r.user_id, seq: r.seq }));
}

/** A bigint[] in Postgres' text form (`{1,2,3}`) as decimal strings. */
export function bigintArray(text: string): string[] {
  return text.length <= 2 ? [] : text.slice(1, -1).split(",");
}

export interface ListQuery {
  /** the `seq` of the last row of the previous page */
  beforeSeq: string | null;
  limit: number;
  type: NotificationType | null;
}

/** Latest activity first (a group that counted a new event is on top again), keyset on seq. */
export async function listForMember(sql: Sql, userId: string, q: ListQuery): Promise<NotificationRow[]> {
  const rows = await sql<RawRow[]>`
    select id, seq, user_id, type, actor_id, actor_ids, subject_id, count, created_at, updated_at, read_at
    from notifications
    where user_id = ${userId}
      ${q.beforeSeq ? sql`and seq < ${q.beforeSeq}` : sql``}
      ${q.type ? sql`and type = ${q.type}` : sql``}
    order by seq desc
    limit ${q.limit}`;
  return rows.map(toRow);
}

/**
 * Marks the given ids read, every unread row of a type about one subject (the message
 * notifications of one conversation), every unread row at or below `upToSeq` (the position of
 * the top row the client showed, `seq`: what it showed, not what that row became since), or every
 * unread row at or below `upTo` in the list's order (the newest
 * row the member has seen: a group that counted a new event since is above it and stays unread).
 * An `upTo` that names no row of the member's is taken as a position in that order. The row is
 * looked up among the unread ones first (their partial index; it usually is unread), then among
 * all. The number of rows that changed.
 */
export type MarkReadTarget = { ids: readonly string[] } | { upTo: string } | { upToSeq: string } | { type: NotificationType; subjectId: string };

/** Which of the member's unread rows a read names (the rest of the statement is the same for all). */
function readTargetFilter(sql: Sql, userId: string, target: MarkReadTarget) {
  if ("upToSeq" in target) return sql`seq <= ${target.upToSeq}`;
  if ("subjectId" in target) return sql`type = ${target.type} and subject_id = ${target.subjectId}`;
  if ("ids" in target) return sql`id = any(${target.ids as string[]}::bigint[])`;
  return sql`seq <= coalesce(
    (select seq from notifications where user_id = ${userId} and id = ${target.upTo} and read_at is null),
    (select seq from notifications where user_id = ${userId} and id = ${target.upTo}),
    ${target.upTo})`;
}

export async function markRead(sql: Sql, userId: string, target: MarkReadTarget): Promise<number> {
  const [r] = await sql<{ n: number }[]>`
    with changed as (
      update notifications set read_at = now()
      where user_id = ${userId} and read_at is null and ${readTargetFilter(sql, userId, target)}
      returning 1
    ) select count(*)::int as n from changed`;
  return r?.n ?? 0;
}

/** The truth behind the Redis counter, for members whose cached count is missing. */
export async function countUnread(sql: Sql, userIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>(userIds.map((id) => [id, 0]));
  if (userIds.length === 0) return out;
  const rows = await sql<{ user_id: string; n: number }[]>`
    select user_id, count(*)::int as n from notifications
    where user_id = any(${userIds as string[]}::bigint[]) and read_at is null
    group by user_id`;
  for (const r of rows) out.set(r.user_id, r.n);
  return out;
}

/** Counted-event records a statement deletes at most (each within the statement timeout, however many a day makes). */
const COUNTED_PER_DELETE = 10_000;

/** Counted-event records older than a day, a batch at a time: no retry of their job comes that late. */
export async function forgetOldCountedEvents(sql: Sql): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await sql`
      with old as (
        select user_id, event_key from notification_counted
        where counted_at < now() - interval '1 day'
        limit ${COUNTED_PER_DELETE}
      )
      delete from notification_counted n using old
      where n.user_id = old.user_id and n.event_key = old.event_key`;
    total += rows.count;
    if (rows.count < COUNTED_PER_DELETE) return total;
  }
}
