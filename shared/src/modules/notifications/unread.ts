/**
 * The unread badge, served from Redis. Writes and reads adjust a member's counter only while it
 * is cached (an INCR on a missing key would invent a wrong total); a missing counter is rebuilt
 * from Postgres on the next read.
 *
 * A rebuild must not cache a count that a write in flight will adjust again (it counted the
 * write's committed row, then the write adds it: one too many) or has already missed (it counted
 * before the commit, and the write found no counter to adjust: one too few). So a write fences its
 * members before it touches Postgres and lifts the fence once the counters hold its change; a
 * rebuild caches its count only when no write was fenced over its members from before its count
 * until its store, which a per-bucket generation tells. Fences are per bucket of members (256), not
 * per member, so a fan-out page of 5,000 costs two short scripts; a fence left by a crashed writer
 * lapses after FENCE_MS, and meanwhile rebuilds answer from Postgres without caching.
 *
 * A Redis restarted with older data (an AOF a second behind) brings back counters that miss the
 * last writes, wrong for their whole TTL: every counter is dropped once per Redis run, and rebuilt
 * from Postgres on its next read.
 */
import type { Sql } from "../../db/index.ts";
import { createLogger } from "../../log/index.ts";
import { followRedisRuns, globLiteral, mgetInChunks, unlinkMatching, type Redis, type RedisKeys } from "../../redis/index.ts";
import { countUnread } from "./store.ts";

export const UNREAD_TTL_SECONDS = 7 * 86_400;
export const FENCE_BUCKETS = 256;
/**
 * A write fenced longer than this (its process died) no longer stops rebuilds from caching. A
 * notify job's write takes milliseconds and a fan-out page tens of them; a write slower than this
 * is back to the race the fence closes.
 */
const FENCE_MS = 15_000;
const GEN_TTL_SECONDS = 86_400;

const log = createLogger("notifications");

/** The fence bucket of a member (FNV-1a of the id). */
export function fenceBucket(userId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % FENCE_BUCKETS;
}

/** KEYS: (writers, generation) per bucket; ARGV: token, deadline ms, TTL of the writers set, TTL of the generation. */
const FENCE_SCRIPT = `
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
  redis.call('EXPIRE', KEYS[i], ARGV[3])
  redis.call('INCR', KEYS[i + 1])
  redis.call('EXPIRE', KEYS[i + 1], ARGV[4])
end
return 1
`;

/** KEYS: writers per bucket; ARGV: token. */
const RELEASE_SCRIPT = `
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
`;

/** KEYS: (writers, generation) per bucket; ARGV: now ms. Per bucket: writers in flight, generation. */
const SNAPSHOT_SCRIPT = `
local out = {}
for i = 1, #KEYS, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
  out[#out + 1] = redis.call('ZCARD', KEYS[i])
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
end
return out
`;

const ADJUST_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local v = redis.call('INCRBY', key, ARGV[i])
    if v < 0 then redis.call('SET', key, 0, 'KEEPTTL') v = 0 end
    out[i] = v
  else
    out[i] = -1
  end
end
return out
`;

/**
 * ARGV: TTL seconds, the counter keys joined by "\n", their values joined by ",", now ms, each
 * member's fence bucket writers key and generation key (joined by "\n"), and the generation each
 * was at before the count (joined by ","; -1: a write was in flight then, do not cache). Caches a
 * value when no write is fenced over its bucket now and the generation has not moved, unless a
 * counter appeared meanwhile (SET NX); returns what each counter holds now, or the count.
 */
const REBUILD_SCRIPT = `
local function split(s, sep)
  local out = {}
  for v in string.gmatch(s, sep) do out[#out + 1] = v end
  return out
end
local keys, values = split(ARGV[2], '[^\\n]+'), split(ARGV[3], '[^,]+')
local writers, gens, before = split(ARGV[5], '[^\\n]+'), split(ARGV[6], '[^\\n]+'), split(ARGV[7], '[^,]+')
local out = {}
for i, key in ipairs(keys) do
  local cache = tonumber(before[i]) >= 0
  if cache then
    redis.call('ZREMRANGEBYSCORE', writers[i], '-inf', ARGV[4])
    cache = redis.call('ZCARD', writers[i]) == 0 and tonumber(redis.call('GET', gens[i]) or '0') == tonumber(before[i])
  end
  if cache and redis.call('SET', key, values[i], 'EX', ARGV[1], 'NX') then
    out[i] = tonumber(values[i])
  else
    out[i] = tonumber(redis.call('GET', key) or values[i])
  end
end
return out
`;

/** A write's fence over its members' counters (see the top of this file). */
export interface UnreadWrite {
  /** The write committed: adds the deltas to the cached counters, then lifts the fence; the new values, null where none is cached. */
  settle(deltas: readonly { userId: string; delta: number }[]): Promise<(number | null)[]>;
  /** The write failed or changed nothing: lifts the fence. */
  release(): Promise<void>;
}

/** `fenceMs`: how long a write's fence holds when it is never lifted (tests shorten it). */
export function createUnreadCounter(opts: { sql: Sql; redis: Redis; keys: RedisKeys; fenceMs?: number }) {
  const { sql, redis, keys } = opts;
  const fenceMs = opts.fenceMs ?? FENCE_MS;
  followRedisRuns(redis, keys.unreadRun(), async () => {
    const dropped = await unlinkMatching(redis, `${globLiteral(keys.unread(""))}*`);
    log.info("a new Redis run: unread counters dropped, to be rebuilt from Postgres", { dropped });
  });

  function bucketKeys(userIds: readonly string[]): number[] {
    return [...new Set(userIds.map(fenceBucket))];
  }

  /** Fences the members' counters before a write touches their rows in Postgres. */
  async function fence(userIds: readonly string[]): Promise<UnreadWrite> {
    const buckets = bucketKeys(userIds);
    const token = crypto.randomUUID();
    await redis.eval(FENCE_SCRIPT, buckets.length * 2, ...buckets.flatMap((b) => [keys.unreadWriters(b), keys.unreadWriteGen(b)]), token, Date.now() + fenceMs, Math.ceil(fenceMs / 1000) * 2, GEN_TTL_SECONDS);
    let lifted = false;
    const release = async (): Promise<void> => {
      if (lifted) return;
      lifted = true;
      await redis.eval(RELEASE_SCRIPT, buckets.length, ...buckets.map((b) => keys.unreadWriters(b)), token);
    };
    return {
      async settle(deltas) {
        const values = await adjust(deltas.filter((d) => d.delta !== 0));
        await release();
        let next = 0;
        return deltas.map((d) => (d.delta === 0 ? null : (values[next++] ?? null)));
      },
      release,
    };
  }

  /** Adds each delta to the cached counters; the new values, or null where none was cached. */
  async function adjust(deltas: readonly { userId: string; delta: number }[]): Promise<(number | null)[]> {
    const out: (number | null)[] = [];
    for (let i = 0; i < deltas.length; i += 5000) {
      const chunk = deltas.slice(i, i + 5000);
      const values = (await redis.eval(ADJUST_SCRIPT, chunk.length, ...chunk.map((d) => keys.unread(d.userId)), ...chunk.map((d) => d.delta))) as number[];
      for (const v of values) out.push(v < 0 ? null : v);
    }
    return out;
  }

  /** The cached counts (null where none is cached); nothing is rebuilt. */
  async function peek(userIds: readonly string[]): Promise<(number | null)[]> {
    const values = await mgetInChunks(redis, userIds.map((id) => keys.unread(id)));
    return values.map((v) => (v === null ? null : Number(v)));
  }

  /** Counts for many members: cached ones from Redis, the rest rebuilt from Postgres and cached. */
  async function get(userIds: readonly string[]): Promise<number[]> {
    if (userIds.length === 0) return [];
    const cached = await peek(userIds);
    const missing = userIds.filter((_, i) => cached[i] === null);
    const rebuilt = await rebuild(missing);
    let next = 0;
    return cached.map((c) => c ?? rebuilt[next++] ?? 0);
  }

  /**
   * Counts for members known to have no cached counter (e.g. just reported missing by a delivery
   * script): counted in Postgres and cached in one Redis call, skipping the MGET of `get`.
   */
  async function rebuild(userIds: readonly string[]): Promise<number[]> {
    if (userIds.length === 0) return [];
    const buckets = bucketKeys(userIds);
    const snap = (await redis.eval(SNAPSHOT_SCRIPT, buckets.length * 2, ...buckets.flatMap((b) => [keys.unreadWriters(b), keys.unreadWriteGen(b)]), Date.now())) as number[];
    // the generation to find again at the store; -1 where a write was in flight before the count
    const before = new Map(buckets.map((b, i) => [b, snap[i * 2]! > 0 ? -1 : snap[i * 2 + 1]!]));
    const counted = await countUnread(sql, userIds);
    const out: number[] = [];
    for (let i = 0; i < userIds.length; i += 2000) {
      const chunk = userIds.slice(i, i + 2000);
      const chunkBuckets = chunk.map(fenceBucket);
      const values = (await redis.eval(
        REBUILD_SCRIPT,
        0,
        UNREAD_TTL_SECONDS,
        chunk.map((id) => keys.unread(id)).join("\n"),
        chunk.map((id) => counted.get(id) ?? 0).join(","),
        Date.now(),
        chunkBuckets.map((b) => keys.unreadWriters(b)).join("\n"),
        chunkBuckets.map((b) => keys.unreadWriteGen(b)).join("\n"),
        chunkBuckets.map((b) => before.get(b)!).join(","),
      )) as number[];
      out.push(...values);
    }
    return out;
  }

  async function getOne(userId: string): Promise<number> {
    return (await get([userId]))[0] ?? 0;
  }

  /** Forget the cached value (the next read rebuilds it). */
  async function invalidate(userId: string): Promise<void> {
    await forget([userId]);
  }

  /** Forget many members' cached values (their next read rebuilds them). */
  async function forget(userIds: readonly string[]): Promise<void> {
    for (let i = 0; i < userIds.length; i += 5000) await redis.unlink(...userIds.slice(i, i + 5000).map((id) => keys.unread(id)));
  }

  return { fence, peek, get, rebuild, getOne, invalidate, forget };
}

export type UnreadCounter = ReturnType<typeof createUnreadCounter>;
