/**
 * Exact presence: which members have at least one open client right now. A chat replica holding
 * a member's socket writes its own field in `presence:<member>` whose value is a deadline it keeps
 * pushing forward with a heartbeat. A replica that dies stops refreshing, so its members fall off
 * within `ttlSeconds` instead of staying "online" forever; a clean close removes the field at once.
 */
import type { Redis, RedisKeys } from "../../redis/index.ts";

export interface PresenceOptions {
  redis: Redis;
  keys: RedisKeys;
  ttlSeconds?: number;
}

const ONLINE_SCRIPT = `
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local flag = 0
  local vals = redis.call('HVALS', key)
  for _, v in ipairs(vals) do
    if tonumber(v) > now then flag = 1 break end
  end
  out[i] = flag
end
return out
`;

export function createPresence(opts: PresenceOptions) {
  const { redis, keys } = opts;
  const ttl = opts.ttlSeconds ?? 90;

  const deadline = () => Math.floor(Date.now() / 1000) + ttl;

  /** The member's first socket on this replica opened. */
  async function connected(userId: string, replica: string): Promise<void> {
    await redis.multi().hset(keys.presence(userId), replica, deadline()).expire(keys.presence(userId), ttl).exec();
  }

  /** The member's last socket on this replica closed. */
  async function disconnected(userId: string, replica: string): Promise<void> {
    await redis.hdel(keys.presence(userId), replica);
  }

  /** Heartbeat for every member this replica holds. */
  async function refresh(replica: string, userIds: Iterable<string>): Promise<void> {
    const ids = [...userIds];
    const until = deadline();
    for (let i = 0; i < ids.length; i += 1000) {
      const p = redis.pipeline();
      for (const id of ids.slice(i, i + 1000)) {
        p.hset(keys.presence(id), replica, until);
        p.expire(keys.presence(id), ttl);
      }
      await p.exec();
    }
  }

  /** Removes this replica from the given members (clean shutdown). */
  async function forgetReplica(replica: string, userIds: Iterable<string>): Promise<void> {
    const p = redis.pipeline();
    for (const id of userIds) p.hdel(keys.presence(id), replica);
    await p.exec();
  }

  /** Online flags for many members in one round trip: any replica field whose deadline is ahead. */
  async function online(userIds: readonly string[]): Promise<boolean[]> {
    if (userIds.length === 0) return [];
    const out: boolean[] = [];
    for (let i = 0; i < userIds.length; i += 5000) {
      const chunk = userIds.slice(i, i + 5000);
      const flags = (await redis.eval(ONLINE_SCRIPT, chunk.length, ...chunk.map((id) => keys.presence(id)), Math.floor(Date.now() / 1000))) as number[];
      for (const f of flags) out.push(f === 1);
    }
    return out;
  }

  return { connected, disconnected, refresh, forgetReplica, online };
}

export type Presence = ReturnType<typeof createPresence>;
