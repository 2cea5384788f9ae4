/**
 * After rows are committed (and the recipients' cached first pages forgotten, recent.ts): bump the
 * cached unread counters and, for the recipients with an open
 * client (exact presence from the chat tier), append a `notification` event to their per-member
 * stream — seq, replay log and publish in one pipeline. Offline recipients get the row and the
 * badge only; they load the list when they come back.
 *
 * A batch of 5,000 with 500 online costs two MGETs (presence, cached counters), one script for
 * the cached counters, then one pipeline of event appends for the 500.
 */
import type { Sql } from "../../db/index.ts";
import type { Redis, RedisKeys } from "../../redis/index.ts";
import type { EventStream } from "../events/index.ts";
import type { Presence } from "../presence/index.ts";
import type { UnreadCounter, UnreadWrite } from "./unread.ts";
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
 * Online recipients (indexes into `written`) and their unread count after this write (null when
 * no counter is cached). Presence and cached counters are two plain MGETs — the presence module
 * keeps an `online:<member>` key that exists exactly while the member has an open client — and
 * only the counters that were cached are adjusted (a script that never creates one: an INCR on a
 * missing key would invent a wrong total). Plain multi-key reads cost Redis a fraction of what
 * per-recipient calls from Lua did, and Redis is the resource a fan-out saturates first.
 */
async function adjustAndFindOnline(deps: DeliveryDeps, written: readonly { userId: string; unreadDelta: number }[], fence: UnreadWrite): Promise<{ index: number; count: number | null }[]> {
  const ids = written.map((w) => w.userId);
  const [online, cached] = await Promise.all([deps.presence.online(ids), deps.unread.peek(ids)]);
  const toAdjust: number[] = [];
  cached.forEach((c, i) => {
    if (c !== null && written[i]!.unreadDelta !== 0) toAdjust.push(i);
  });
  // the counters now hold the write: its fence lifts (the rebuilds below may cache again)
  const adjusted = await fence.settle(toAdjust.map((i) => ({ userId: written[i]!.userId, delta: written[i]!.unreadDelta })));
  const countAfter = new Map<number, number | null>(toAdjust.map((i, k) => [i, adjusted[k] ?? null]));
  const out: { index: number; count: number | null }[] = [];
  online.forEach((isOnline, index) => {
    if (isOnline) out.push({ index, count: countAfter.has(index) ? countAfter.get(index)! : cached[index]! });
  });
  return out;
}

/**
 * Returns the number of live events published; `view(i)` is called only for online recipients.
 * `fence`: the one the write took over its recipients before its Postgres write (unread.ts).
 */
export async function deliver(deps: DeliveryDeps, written: readonly { userId: string; unreadDelta: number }[], view: (index: number) => NotificationView, fence: UnreadWrite): Promise<number> {
  if (written.length === 0) {
    await fence.release();
    return 0;
  }
  const live = await adjustAndFindOnline(deps, written, fence);
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
