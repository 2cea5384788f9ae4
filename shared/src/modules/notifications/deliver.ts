/**
 * After rows are committed: bump the cached unread counters and, for the recipients with an open
 * client (exact presence from the chat tier), append a `notification` event to their per-member
 * stream — seq, replay log and publish in one pipeline. Offline recipients get the row and the
 * badge only; they load the list when they come back.
 *
 * Counters and presence are one Lua call per chunk of recipients (all chunks of a batch in one
 * pipeline, so other clients' commands interleave between chunks): each cached counter is
 * adjusted, each presence hash is checked, and only the online recipients come back (with their
 * new count, or -1 when no counter is cached) — so a batch of 5,000 with 500 online costs one round
 * trip and a 1,000-integer reply for both, then one pipeline of event appends for the 500.
 */
import type { Sql } from "../../db/index.ts";
import type { Redis, RedisKeys } from "../../redis/index.ts";
import type { EventStream } from "../events/index.ts";
import type { Presence } from "../presence/index.ts";
import type { UnreadCounter } from "./unread.ts";
import type { NotificationView } from "./types.ts";

export interface DeliveryDeps {
  sql: Sql;
  redis: Redis;
  keys: RedisKeys;
  events: EventStream;
  presence: Presence;
  unread: UnreadCounter;
}

/**
 * ARGV: the n unread counter keys joined by "\n", the n members' presence keys joined by "\n",
 * the n deltas joined by ",", now (unix seconds). Adjusts each cached counter (never creating one:
 * an INCR on a missing key would invent a wrong total; a negative total is clamped to 0), and
 * returns {i, count} for every online member i (1-based; count -1 when not cached). Online: a
 * replica field whose deadline is ahead, exactly as `presence.online` decides it.
 *
 * The keys travel packed in three arguments instead of 2n + n separate ones: encoding and parsing
 * ~15,000 arguments per batch was the largest CPU cost of a fan-out in the worker and in Redis.
 * Like the per-key scripts of `unread.adjust` and `presence.online` this touches many members'
 * keys in one call, so it assumes one Redis (not a cluster), as those do.
 */
const DELIVER_SCRIPT = `
local function split(s, sep)
  local t = {}
  for part in string.gmatch(s, '[^' .. sep .. ']+') do t[#t + 1] = part end
  return t
end
local counters = split(ARGV[1], '\\n')
local presence = split(ARGV[2], '\\n')
local deltas = split(ARGV[3], ',')
local now = tonumber(ARGV[4])
local out = {}
for i = 1, #counters do
  local count = -1
  local key = counters[i]
  if redis.call('EXISTS', key) == 1 then
    count = redis.call('INCRBY', key, deltas[i])
    if count < 0 then redis.call('SET', key, 0, 'KEEPTTL') count = 0 end
  end
  local vals = redis.call('HVALS', presence[i])
  for _, v in ipairs(vals) do
    if tonumber(v) > now then
      out[#out + 1] = i
      out[#out + 1] = count
      break
    end
  end
end
return out
`;

/** Recipients per Lua call: bounds how long one call holds Redis (the chat tier shares it). */
const CHUNK = 2000;

type WithDeliver = { xpNotifDeliver(...args: (string | number)[]): Promise<number[]> };
const defined = new WeakSet<Redis>();

function defineScripts(redis: Redis): void {
  redis.defineCommand("xpNotifDeliver", { numberOfKeys: 0, lua: DELIVER_SCRIPT });
  defined.add(redis);
}

/** Online recipients (indexes into `written`) and their cached unread count (null when none). */
async function adjustAndFindOnline(deps: DeliveryDeps, written: readonly { userId: string; unreadDelta: number }[]): Promise<{ index: number; count: number | null }[]> {
  if (!defined.has(deps.redis)) defineScripts(deps.redis);
  const now = Math.floor(Date.now() / 1000);
  const p = deps.redis.pipeline() as unknown as WithDeliver & { exec(): Promise<[Error | null, number[]][]> };
  for (let start = 0; start < written.length; start += CHUNK) {
    const chunk = written.slice(start, start + CHUNK);
    p.xpNotifDeliver(
      chunk.map((w) => deps.keys.unread(w.userId)).join("\n"),
      chunk.map((w) => deps.keys.presence(w.userId)).join("\n"),
      chunk.map((w) => w.unreadDelta).join(","),
      now,
    );
  }
  const results = await p.exec();
  const online: { index: number; count: number | null }[] = [];
  results.forEach(([err, flat], c) => {
    if (err) throw err;
    for (let j = 0; j < flat.length; j += 2) online.push({ index: c * CHUNK + flat[j]! - 1, count: flat[j + 1]! < 0 ? null : flat[j + 1]! });
  });
  return online;
}

/** Returns the number of live events published; `view(i)` is called only for online recipients. */
export async function deliver(deps: DeliveryDeps, written: readonly { userId: string; unreadDelta: number }[], view: (index: number) => NotificationView): Promise<number> {
  if (written.length === 0) return 0;
  const live = await adjustAndFindOnline(deps, written);
  if (live.length === 0) return 0;
  const unknown = live.filter((l) => l.count === null);
  if (unknown.length) {
    // no cached counter: rebuild it from Postgres (the rows above are committed, so it counts them)
    const rebuilt = await deps.unread.rebuild(unknown.map((l) => written[l.index]!.userId));
    unknown.forEach((l, k) => (l.count = rebuilt[k] ?? 0));
  }
  const events = live.map((l) => ({ userId: written[l.index]!.userId, data: { notification: view(l.index), unread: l.count ?? 0 } }));
  // One script call per 500 members (the event stream's own bulk append).
  await deps.events.appendMany(events.map((e) => ({ ...e, kind: "notification" as const })));
  return live.length;
}
