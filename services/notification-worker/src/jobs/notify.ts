/** `notify`: one recipient, one event (or the messages counted while a message job waited). */
import type { Job } from "bullmq";
import { writeNotification, type NotifyJobData, type NotifyResult, type PendingMessages } from "@xplicit/shared/modules/notifications";
import type { WorkerDeps } from "../deps.ts";
import type { Stats } from "../stats.ts";

export function notifyProcessor(deps: WorkerDeps, stats: Stats) {
  return async (job: Job<NotifyJobData>): Promise<{ result: NotifyResult; live: number }> => {
    const data = job.data.pendingToken && job.data.events === undefined ? await takePending(deps.pendingMessages, job, job.data.pendingToken) : job.data;
    const out = await writeNotification(deps, data);
    if (out.result === "written") stats.written("notify", 1, out.live);
    return out;
  };
}

/**
 * The messages counted for the job's recipient and conversation, kept in the job's data before
 * anything is written: a retry writes as many, though the count is gone from Redis.
 */
async function takePending(pending: PendingMessages, job: Job<NotifyJobData>, token: string): Promise<NotifyJobData> {
  const { messages, latestSender } = await pending.take(job.data.recipientId, job.data.subjectId ?? "", token);
  const data: NotifyJobData = { ...job.data, events: messages, actorId: latestSender ?? job.data.actorId };
  await job.updateData(data);
  return data;
}
