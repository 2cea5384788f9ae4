/**
 * The unread badge, served from Redis. Writes and reads adjust a member's counter only while it
 * is cached (an INCR on a missing key would invent a wrong total); a missing counter is rebuilt
 * from Postgres on the next read. The TTL bounds any drift from a lost race to one period.
 */
import type { Sql } from "../../db/index.ts";
import { mgetInChunks, type Redis, type RedisKeys } from "../../redis/index.ts";
import { countUnread } from "./store.ts";

export const UNREAD_TTL_SECONDS = 7 * 86_400;

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
 * ARGV: TTL seconds, the counter keys joined by "\n", their values joined by ",". Caches each
 * value unless a counter appeared meanwhile (SET NX), and returns what each counter holds now.
 */
const REBUILD_SCRIPT = `
local keys, values = {}, {}
for k in string.gmatch(ARGV[2], '[^\\n]+') do keys[#keys + 1] = k end
for v in string.gmatch(ARGV[3], '[^,]+') do values[#values + 1] = v end
local out = {}
for i, key in ipairs(keys) do
  if redis.call('SET', key, values[i], 'EX', ARGV[1], 'NX') then
    out[i] = tonumber(values[i])
  else
    out[i] = tonumber(redis.call('GET', key) or values[i])
  end
end
return out
`;

export function createUnreadCounter(opts: { sql: Sql; redis: Redis; keys: RedisKeys }) {
  const { sql, redis, keys } = opts;

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
    const counted = await countUnread(sql, userIds);
    const out: number[] = [];
    for (let i = 0; i < userIds.length; i += 2000) {
      const chunk = userIds.slice(i, i + 2000);
      const values = (await redis.eval(
        REBUILD_SCRIPT, 0, UNREAD_TTL_SECONDS, chunk.map((id) => keys.unread(id)).join("\n"), chunk.map((id) => counted.get(id) ?? 0).join(","),
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
    await redis.del(keys.unread(userId));
  }

  return { adjust, peek, get, rebuild, getOne, invalidate };
}

export type UnreadCounter = ReturnType<typeof createUnreadCounter>;
