/**
 * A member's newest notifications (the list's first page, without a type filter) cached in Redis,
 * next to the unread counter: a member who opens or reloads the list costs one Redis command, not
 * a Postgres query. Rows only — actors are rendered from the card cache, so a changed display
 * name is not frozen here.
 *
 * Every write to a member's rows (new, grouped, read) deletes their entry after it commits. A read
 * that misses marks the key as loading before it queries Postgres and stores its rows only if its
 * mark is still there: a write that committed after the query began has deleted the mark, so a
 * page older than the write is never stored. The TTL bounds what a lost delete could leave (a
 * delete that failed with Redis, rows that expire with their monthly partition).
 */
import type { Sql } from "../../db/index.ts";
import type { Redis, RedisKeys } from "../../redis/index.ts";
import { broadcastTexts, type BroadcastText } from "./render.ts";
import { listForMember } from "./store.ts";
import type { NotificationRow, NotificationType } from "./types.ts";

/** Rows kept: a page of up to RECENT_PAGE_MAX, plus one to know whether there is a next page. */
export const RECENT_PAGE_MAX = 50;
const KEPT = RECENT_PAGE_MAX + 1;
const TTL_MS = 60_000;
const LOADING_MS = 5_000;
const LOADING = "loading:";

/** A row as stored: a tuple, about half the bytes of the object's JSON. */
type StoredRow = [id: string, type: NotificationType, actorId: string | null, actorIds: string[] | null, subjectId: string | null, count: number, createdAt: number, updatedAt: number | null, readAt: number | null, seq: string];

interface Stored {
  rows: StoredRow[];
  broadcasts: Record<string, BroadcastText>;
}

export interface RecentPage {
  rows: NotificationRow[];
  /** the member has more rows than `rows` */
  more: boolean;
  broadcasts: ReadonlyMap<string, BroadcastText>;
}

const toStored = (r: NotificationRow): StoredRow => [r.id, r.type, r.actorId, r.actorIds, r.subjectId, r.count, r.createdAt.getTime(), r.updatedAt?.getTime() ?? null, r.readAt?.getTime() ?? null, r.seq];

const fromStored = (userId: string, s: StoredRow): NotificationRow => ({
  id: s[0], seq: s[9], userId, type: s[1], actorId: s[2], actorIds: s[3], subjectId: s[4], count: s[5],
  createdAt: new Date(s[6]), updatedAt: s[7] === null ? null : new Date(s[7]), readAt: s[8] === null ? null : new Date(s[8]),
});

/** KEYS[1] the entry; ARGV: this read's loading mark, the rows, TTL ms. */
const FILL_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`;

function pageOf(userId: string, stored: Stored, limit: number): RecentPage {
  const rows = stored.rows.slice(0, limit).map((s) => fromStored(userId, s));
  return { rows, more: stored.rows.length > limit, broadcasts: new Map(Object.entries(stored.broadcasts)) };
}

/** Drops these members' cached pages: call it after a write to their rows has committed. */
export async function forgetRecentNotifications(deps: { redis: Redis; keys: RedisKeys }, userIds: readonly string[]): Promise<void> {
  for (let i = 0; i < userIds.length; i += 5000) {
    await deps.redis.unlink(...userIds.slice(i, i + 5000).map((id) => deps.keys.recentNotifications(id)));
  }
}

export function createRecentNotifications(opts: { sql: Sql; redis: Redis; keys: RedisKeys }) {
  const { sql, redis, keys } = opts;

  /**
   * From Postgres; stored only by the read whose loading mark is set (NX: a read that finds another's
   * mark answers from Postgres without storing, so concurrent misses do not undo each other's fill).
   * The cache is best effort: a Redis error around the query does not fail the read.
   */
  async function load(userId: string, limit: number): Promise<RecentPage> {
    const key = keys.recentNotifications(userId);
    const mark = `${LOADING}${crypto.randomUUID()}`;
    const marked = await redis.set(key, mark, "PX", LOADING_MS, "NX").then((r) => r === "OK", () => false);
    const rows = await listForMember(sql, userId, { beforeSeq: null, limit: KEPT, type: null });
    const texts = await broadcastTexts(sql, rows.filter((r) => r.type === "broadcast" && r.subjectId).map((r) => r.subjectId!));
    const stored: Stored = { rows: rows.map(toStored), broadcasts: Object.fromEntries(texts) };
    if (marked) await redis.eval(FILL_SCRIPT, 1, key, mark, JSON.stringify(stored), TTL_MS).catch(() => {});
    return pageOf(userId, stored, limit);
  }

  function parsed(entry: string | null | undefined): Stored | null {
    if (!entry || entry.startsWith(LOADING)) return null;
    try {
      const stored = JSON.parse(entry) as Stored;
      // an entry written by the previous version (rows without their seq) is a miss until replaced
      return stored.rows.every((r) => r.length >= 10) ? stored : null;
    } catch {
      return null; // unreadable: a miss, and the next fill replaces it
    }
  }

  /**
   * The newest `limit` (≤ RECENT_PAGE_MAX) rows and the cached unread count (null when it is not
   * cached), read in one command; a missing page is loaded from Postgres and cached.
   */
  async function read(userId: string, limit: number): Promise<{ page: RecentPage; unread: number | null }> {
    if (limit > RECENT_PAGE_MAX) throw new RangeError(`at most ${RECENT_PAGE_MAX} rows are cached`);
    const [entry, unread] = await redis.mget(keys.recentNotifications(userId), keys.unread(userId));
    const count = unread === null ? null : Number(unread);
    const stored = parsed(entry);
    return { page: stored ? pageOf(userId, stored, limit) : await load(userId, limit), unread: count };
  }

  return { read, forget: (userIds: readonly string[]) => forgetRecentNotifications(opts, userIds) };
}

export type RecentNotifications = ReturnType<typeof createRecentNotifications>;
