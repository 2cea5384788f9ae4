/**
 * Queue names, job ids and job options: the contract between whoever enqueues (the api, the
 * message path) and the worker. Job ids derive from the source event, so enqueueing the same
 * event twice while its job is retained adds nothing.
 */
import { createHash } from "node:crypto";
import type { JobsOptions } from "bullmq";
import type { NotificationType } from "./types.ts";

export const QUEUES = {
  notify: "notifications-notify",
  fanout: "notifications-fanout",
  broadcast: "notifications-broadcast",
  maintenance: "notifications-maintenance",
} as const;
export type QueueKind = keyof typeof QUEUES;

export const JOB_NAMES = { notify: "notify", fanout: "fanout", broadcast: "broadcast", partitions: "partitions" } as const;

/** How long a failed job stays (DEFAULT_JOB_OPTIONS.removeOnFail), in seconds. */
export const FAILED_JOB_KEPT_SECONDS = 7 * 86_400;

/** Retries with exponential backoff; completed jobs kept a day (the dedupe window of job ids), failed ones a week. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: { age: 86_400, count: 50_000 },
  removeOnFail: { age: FAILED_JOB_KEPT_SECONDS },
};

/** A broadcast's job: kept a month once complete, so its progress stays readable. */
export const BROADCAST_JOB_OPTIONS: JobsOptions = { removeOnComplete: { age: 30 * 86_400 } };

/** BullMQ custom ids may not contain ':' and may not be integers: a short hash with a readable head. */
export function jobIdFor(kind: QueueKind, ...parts: string[]): string {
  const digest = createHash("sha1").update(parts.join("\u0000")).digest("hex").slice(0, 24);
  return `${kind}-${digest}`;
}

export interface NotifyJobData {
  recipientId: string;
  type: NotificationType;
  actorId: string | null;
  subjectId: string | null;
  dedupeKey: string;
  occurredAt: number;
  /** the job stands for every message counted under this token for (recipient, subject) until it runs (pending-messages.ts) */
  pendingToken?: string;
  /** how many events the job writes (set once the pending count is taken, so a retry writes as many); 1 when absent */
  events?: number;
}

/** Checkpoint fields are written back into the job data after every batch. */
export interface BatchCheckpoint {
  cursor: string | null;
  /** recipients who have the job's row, whichever attempt wrote it */
  written: number;
  scanned: number;
}

export interface FanoutJobData extends Partial<BatchCheckpoint> {
  actorId: string;
  type: NotificationType;
  subjectId: string | null;
  dedupeKey: string;
  occurredAt: number;
}

export interface BroadcastJobData extends Partial<BatchCheckpoint> {
  broadcastId: string;
  joinedSince: string | null;
  occurredAt: number;
}

export interface BatchProgress extends BatchCheckpoint {
  total: number | null;
}

/**
 * A BullMQ queue re-emits its connection's errors; with no listener each one was printed as a
 * multi-line stack trace on stderr (151 lines in 5 s of a Redis outage). The connection itself
 * logs them, once per distinct error (shared/src/redis), so the queue's copies are dropped here.
 */
export function quietQueue<Q extends { on(event: "error", listener: (err: Error) => void): unknown }>(queue: Q): Q {
  queue.on("error", () => {});
  return queue;
}
