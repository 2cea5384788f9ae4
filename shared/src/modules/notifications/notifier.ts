/**
 * The producer side: what the api, the message path and the social hooks call. Each call is one
 * BullMQ job on a named queue; the worker does the writing.
 */
import { Queue, type Job } from "bullmq";
import type { Redis } from "../../redis/index.ts";
import {
  BROADCAST_JOB_OPTIONS, DEFAULT_JOB_OPTIONS, JOB_NAMES, QUEUES, jobIdFor, quietQueue,
  type BroadcastJobData, type FanoutJobData, type NotifyJobData,
} from "./queues.ts";
import type { BroadcastInput, FanoutInput, NotifyInput } from "./types.ts";

export interface NotifierOptions {
  /** a command connection (shared, not closed by the notifier) */
  redis: Redis;
  /** BullMQ key prefix: `keys.bullPrefix()` */
  prefix: string;
}

export interface Notifier {
  /** One recipient, one event. Resolves with the job id once the job is stored. */
  notifyMember(input: NotifyInput): Promise<string>;
  /** One actor's event to all of their followers. */
  fanoutToFollowers(input: FanoutInput): Promise<string>;
  /** An operator broadcast (the `broadcasts` row must exist). */
  broadcast(input: BroadcastInput): Promise<string>;
  /** The broadcast job (state and progress) or null. */
  broadcastJob(broadcastId: string): Promise<Job<BroadcastJobData> | null>;
  close(): Promise<void>;
}

export type NotifyMember = Notifier["notifyMember"];

export function createNotifier(opts: NotifierOptions): Notifier {
  const queueOpts = { connection: opts.redis, prefix: opts.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS };
  const notify = quietQueue(new Queue<NotifyJobData>(QUEUES.notify, queueOpts));
  const fanout = quietQueue(new Queue<FanoutJobData>(QUEUES.fanout, queueOpts));
  const broadcast = quietQueue(new Queue<BroadcastJobData>(QUEUES.broadcast, queueOpts));

  return {
    async notifyMember(input) {
      if (input.actorId !== null && input.actorId === input.recipientId) return "";
      const jobId = jobIdFor("notify", input.recipientId, input.dedupeKey);
      const data: NotifyJobData = {
        recipientId: input.recipientId,
        type: input.type,
        actorId: input.actorId,
        subjectId: input.subjectId ?? null,
        dedupeKey: input.dedupeKey,
        occurredAt: input.occurredAt ?? Date.now(),
        ...(input.pendingToken ? { pendingToken: input.pendingToken } : {}),
      };
      await notify.add(JOB_NAMES.notify, data, { jobId });
      return jobId;
    },
    async fanoutToFollowers(input) {
      const jobId = jobIdFor("fanout", input.actorId, input.dedupeKey);
      const data: FanoutJobData = {
        actorId: input.actorId,
        type: input.type,
        subjectId: input.subjectId,
        dedupeKey: input.dedupeKey,
        occurredAt: input.occurredAt ?? Date.now(),
      };
      await fanout.add(JOB_NAMES.fanout, data, { jobId });
      return jobId;
    },
    async broadcast(input) {
      const jobId = broadcastJobId(input.broadcastId);
      const data: BroadcastJobData = { broadcastId: input.broadcastId, joinedSince: input.joinedSince, occurredAt: input.occurredAt ?? Date.now() };
      await broadcast.add(JOB_NAMES.broadcast, data, { ...BROADCAST_JOB_OPTIONS, jobId });
      return jobId;
    },
    async broadcastJob(broadcastId) {
      return (await broadcast.getJob(broadcastJobId(broadcastId))) ?? null;
    },
    async close() {
      await Promise.allSettled([notify.close(), fanout.close(), broadcast.close()]);
    },
  };
}

export function broadcastJobId(broadcastId: string): string {
  return `broadcast-${broadcastId}`;
}
