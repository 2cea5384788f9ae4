/**
 * After rows are committed: bump the cached unread counters and, for the recipients with an open
 * client (exact presence from the chat tier), append a `notification` event to their per-member
 * stream — seq, replay log and publish in one pipeline. Offline recipients get the row and the
 * badge only; they load the list when they come back.
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

/** Returns the number of live events published; `view(i)` is called only for online recipients. */
export async function deliver(deps: DeliveryDeps, written: readonly { userId: string; unreadDelta: number }[], view: (index: number) => NotificationView): Promise<number> {
  if (written.length === 0) return 0;
  const userIds = written.map((w) => w.userId);
  const [counts, online] = await Promise.all([
    deps.unread.adjust(written.map((w) => ({ userId: w.userId, delta: w.unreadDelta }))),
    deps.presence.online(userIds),
  ]);
  const live = written.flatMap((w, i) => (online[i] ? [i] : []));
  if (live.length === 0) return 0;
  const unknown = live.filter((i) => counts[i] === null);
  if (unknown.length) {
    const rebuilt = await deps.unread.get(unknown.map((i) => userIds[i]!));
    unknown.forEach((i, k) => (counts[i] = rebuilt[k] ?? 0));
  }
  await deps.events.appendMany(
    live.map((i) => ({ userId: userIds[i]!, kind: "notification" as const, data: { notification: view(i), unread: counts[i] ?? 0 } })),
  );
  return live.length;
}
