/**
 * The one-recipient write path (`notify` jobs): mute check → grouped upsert or single insert
 * (idempotent on the dedupe key) → the cached first page forgotten → unread counter → live event
 * if the member is online.
 */
import type { NotifyJobData } from "./queues.ts";
import type { DeliveryDeps } from "./deliver.ts";
import { deliver } from "./deliver.ts";
import { forgetRecentNotifications } from "./recent.ts";
import { renderAll } from "./render.ts";
import { isMuted } from "./settings.ts";
import { insertSingle, upsertGrouped, type WriteOutcome } from "./store.ts";
import { GROUPED_TYPES } from "./types.ts";

export interface WriteDeps extends DeliveryDeps {
  groupWindowSeconds: number;
}

export type NotifyResult = "muted" | "duplicate" | "written";

/** Start of the grouping window that contains `ms`. */
export function bucketStart(ms: number, windowSeconds: number): Date {
  const w = windowSeconds * 1000;
  return new Date(Math.floor(ms / w) * w);
}

export function groupKey(type: string, subjectId: string, bucket: Date): string {
  return `g:${type}:${subjectId}:${bucket.getTime()}`;
}

export async function writeNotification(deps: WriteDeps, job: NotifyJobData): Promise<{ result: NotifyResult; live: number }> {
  if (await isMuted(deps.sql, job.recipientId, job.type)) return { result: "muted", live: 0 };
  // before the row is written: a badge rebuilt meanwhile must not be cached (unread.ts)
  const fence = await deps.unread.fence([job.recipientId]);
  try {
    const outcome = await writeRow(deps, job);
    // Before any live event (a client that reloads on it sees the row), and on a duplicate too: a
    // retry's first attempt may have written the row and failed before it got here.
    await forgetRecentNotifications(deps, [job.recipientId]);
    if (!outcome) return { result: "duplicate", live: 0 };
    const [view] = await renderAll(deps.sql, [outcome.row]);
    const live = await deliver(deps, [{ userId: job.recipientId, unreadDelta: outcome.unreadDelta }], () => view!, fence);
    return { result: "written", live };
  } finally {
    await fence.release();
  }
}

/** The grouped upsert or the single insert; null when this event was already written. */
async function writeRow(deps: WriteDeps, job: NotifyJobData): Promise<WriteOutcome | null> {
  if (!GROUPED_TYPES.has(job.type)) {
    return insertSingle(deps.sql, {
      userId: job.recipientId,
      type: job.type,
      actorId: job.actorId,
      subjectId: job.subjectId,
      dedupeKey: job.dedupeKey,
      occurredAt: new Date(job.occurredAt),
    });
  }
  const bucket = bucketStart(job.occurredAt, deps.groupWindowSeconds);
  return upsertGrouped(deps.sql, {
    userId: job.recipientId,
    type: job.type,
    actorId: job.actorId,
    subjectId: job.subjectId,
    groupKey: groupKey(job.type, job.subjectId ?? job.recipientId, bucket),
    eventKey: job.dedupeKey,
    bucketStart: bucket,
    occurredAt: new Date(job.occurredAt),
    ...(job.events !== undefined ? { events: job.events } : {}),
  });
}
