/**
 * Exact presence: which members have at least one open client right now. A chat replica holding
 * a member's socket writes its own field in `presence:<member>` whose value is a deadline it keeps
 * pushing forward with a heartbeat. A replica that dies stops refreshing, so its members fall off
 * within `ttlSeconds` instead of staying "online" forever; a clean close removes the field at once.
 *
 * Readers never look at that hash: every change also rewrites `online:<member>`, a key that
 * exists exactly while some deadline is ahead (it expires at the latest one). So "who of these
 * 5,000 recipients is online" is one MGET (or EXISTS inside a script), not 5,000 hash reads.
 */
import { mgetInChunks, type Redis, type RedisKeys } from "../../redis/index.ts";

export interface PresenceOptions {
  redis: Redis;
  keys: RedisKeys;
  ttlSeconds?: number;
}

/**
 * ARGV: replica, keep (1: move the replica's field forward, 2: set it exactly, 0: remove it), TTL
 * seconds, then pairs of (presence hash key, online key). Moves the replica's field in each hash to a
 * deadline TTL seconds from Redis' clock (never back, unless exactly), or removes it, then makes the online key expire at the latest deadline still
 * ahead, or deletes it when none is. Returns was, is (1/0: online before and after) for each member,
 * so a flip needs no reads around it. Deadlines are Redis' time, not the replica's: a replica whose
 * clock ran minutes behind wrote deadlines Redis expired at once (its members shown offline).
 */
const UPDATE_SCRIPT = `
local replica, keep, exact, ttl = ARGV[1], ARGV[2] ~= '0', ARGV[2] == '2', tonumber(ARGV[3])
local now = tonumber(redis.call('TIME')[1])
local deadline = now + ttl
local out = {}
for i = 4, #ARGV, 2 do
  local hash, online = ARGV[i], ARGV[i + 1]
  out[#out + 1] = redis.call('EXISTS', online)
  if keep then
    -- never earlier than already set: several holders share one field (the long-poll's devices),
    -- and a short hold must not cut a longer one, nor the hash's other replicas' fields
    local current = tonumber(redis.call('HGET', hash, replica))
    if exact or not current or current < deadline then redis.call('HSET', hash, replica, deadline) end
    if redis.call('TTL', hash) < ttl then redis.call('EXPIRE', hash, ttl) end
  else
    redis.call('HDEL', hash, replica)
  end
  local latest = 0
  for _, v in ipairs(redis.call('HVALS', hash)) do
    local d = tonumber(v)
    if d and d > latest then latest = d end
  end
  if latest > now then
    redis.call('SET', online, '1', 'EXAT', latest)
    out[#out + 1] = 1
  else
    redis.call('DEL', online)
    out[#out + 1] = 0
  end
end
return out
`;

/**
 * A replica renews its members' deadlines this often, each PRESENCE_TTL_SECONDS ahead: a replica
 * killed without its shutdown leaves members "online" for at most that long — meanwhile they get no
 * "you have a message" notifications (they look online). Three renewals fit in a deadline, so one
 * slow or failed renewal never shows a member offline.
 */
export const PRESENCE_HEARTBEAT_MS = 15_000;
export const PRESENCE_TTL_SECONDS = 45;

/** Members per script call: bounds how long one call holds Redis. */
const CHUNK = 1000;

type WithUpdate = { xpPresenceUpdate(...args: (string | number)[]): Promise<number[]> };

/** A member's cluster-wide online state before and after one replica's change. */
export interface PresenceChange {
  wasOnline: boolean;
  isOnline: boolean;
}

export function createPresence(opts: PresenceOptions) {
  const { redis, keys } = opts;
  const ttl = opts.ttlSeconds ?? PRESENCE_TTL_SECONDS;
  redis.defineCommand("xpPresenceUpdate", { numberOfKeys: 0, lua: UPDATE_SCRIPT });
  const update = (redis as unknown as WithUpdate).xpPresenceUpdate.bind(redis);

  async function apply(replica: string, userIds: Iterable<string>, mode: "remove" | "forward" | "exact", seconds = ttl): Promise<PresenceChange[]> {
    const ids = [...userIds];
    const changes: PresenceChange[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const args: (string | number)[] = [replica, mode === "remove" ? 0 : mode === "forward" ? 1 : 2, seconds];
      for (const id of ids.slice(i, i + CHUNK)) args.push(keys.presence(id), keys.online(id));
      const flat = await update(...args);
      for (let j = 0; j < flat.length; j += 2) changes.push({ wasOnline: flat[j] === 1, isOnline: flat[j + 1] === 1 });
    }
    return changes;
  }

  /** The member's first socket on this replica opened. */
  async function connected(userId: string, replica: string): Promise<PresenceChange> {
    return (await apply(replica, [userId], "forward"))[0]!;
  }

  /** The member's last socket on this replica closed. */
  async function disconnected(userId: string, replica: string): Promise<PresenceChange> {
    return (await apply(replica, [userId], "remove"))[0]!;
  }

  /**
   * Heartbeat for every member this replica holds: online through it for `seconds` more (the
   * TTL by default). Also a draining replica's hold on its members while their clients move (a
   * planned move must not read as "gone"), and a long-poll's, for as long as the poll waits.
   */
  async function refresh(replica: string, userIds: Iterable<string>, seconds = ttl): Promise<void> {
    await apply(replica, userIds, "forward", seconds);
  }

  /**
   * This replica's own hold on its members, for exactly `seconds` from now (a draining replica's:
   * however long its heartbeat had promised, they fall off when the hold ends should it die).
   */
  async function holdExactly(replica: string, userIds: Iterable<string>, seconds: number): Promise<void> {
    await apply(replica, userIds, "exact", seconds);
  }

  /** This replica no longer holds these members (a drain's lingering ones, once their time is up). */
  async function departed(replica: string, userIds: Iterable<string>): Promise<PresenceChange[]> {
    return apply(replica, userIds, "remove");
  }

  const online = (userIds: readonly string[]) => areOnline(redis, keys, userIds);

  return { connected, disconnected, departed, refresh, holdExactly, online };
}

export type Presence = ReturnType<typeof createPresence>;

/** Online flags for many members: MGETs of their online keys. */
export async function areOnline(redis: Redis, keys: RedisKeys, userIds: readonly string[]): Promise<boolean[]> {
  return (await mgetInChunks(redis, userIds.map((id) => keys.online(id)))).map((v) => v !== null);
}

/** The frame that tells a client a member's online state changed (live only, never replayed). */
export function presenceFrame(userId: string, online: boolean): string {
  return JSON.stringify({ type: "presence", userId, online });
}

/** Where chat replicas hear that two members' presence visibility changed (a block or unblock). */
export function visibilityChannel(keys: RedisKeys): string {
  return `${keys.prefix}ch:presence:visibility`;
}

export interface VisibilityChange {
  members: string[];
  /** a first message (who sees whom changed), not a block or unblock (who is hidden from whom did not) */
  engaged?: true;
}

/**
 * A block between two members: every chat replica forgets who may see whom for both, so neither
 * learns the other's state again, and each one who could see the other (`before`: the other had
 * engaged in a conversation with them, no block yet) has their open clients told the other is
 * offline at once. No one else hears anything: a frame about a member one could not see would
 * tell who just blocked whom.
 */
export async function hideFromEachOther(redis: Redis, keys: RedisKeys, a: string, b: string, before: { aSeesB: boolean; bSeesA: boolean }): Promise<void> {
  const pipeline = redis.pipeline().publish(visibilityChannel(keys), visibilityChange([a, b]));
  if (before.aSeesB) pipeline.publish(keys.memberChannel(a), presenceFrame(b, false));
  if (before.bSeesA) pipeline.publish(keys.memberChannel(b), presenceFrame(a, false));
  await pipeline.exec();
}

/**
 * An unblock: replicas forget who may see whom for both. Each one who may now see the other
 * (`between`: the other engaged in a conversation with them, no block left either way) has their
 * open clients told the other's state at once instead of at the other's next change.
 */
export async function showToEachOther(redis: Redis, keys: RedisKeys, a: string, b: string, between: { aSeesB: boolean; bSeesA: boolean }): Promise<void> {
  const pipeline = redis.pipeline().publish(visibilityChannel(keys), visibilityChange([a, b]));
  if (between.aSeesB || between.bSeesA) {
    const [aOnline, bOnline] = (await redis.mget(keys.online(a), keys.online(b))).map((v) => v !== null);
    if (between.aSeesB) pipeline.publish(keys.memberChannel(a), presenceFrame(b, bOnline!));
    if (between.bSeesA) pipeline.publish(keys.memberChannel(b), presenceFrame(a, aOnline!));
  }
  await pipeline.exec();
}

/**
 * A member engaged in a conversation (their first message in it): replicas forget who may see whom
 * for everyone involved, and `viewers` (its other members, blocks left out) are told the member's
 * state at once.
 */
export async function showEngaged(redis: Redis, keys: RedisKeys, userId: string, viewers: readonly string[]): Promise<void> {
  const online = (await redis.exists(keys.online(userId))) === 1;
  const pipeline = redis.pipeline().publish(visibilityChannel(keys), visibilityChange([userId, ...viewers], true));
  for (const v of viewers) pipeline.publish(keys.memberChannel(v), presenceFrame(userId, online));
  await pipeline.exec();
}

function visibilityChange(members: string[], engaged = false): string {
  return JSON.stringify((engaged ? { members, engaged: true } : { members }) satisfies VisibilityChange);
}
