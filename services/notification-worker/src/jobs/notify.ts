/** `notify`: one recipient, one event. */
import type { Job } from "bullmq";
import { writeNotification, type NotifyJobData, type NotifyResult } from "@xplicit/shared/modules/notifications";
import type { WorkerDeps } from "../deps.ts";
import type { Stats } from "../stats.ts";

export function notifyProcessor(deps: WorkerDeps, stats: Stats) {
  return async (job: Job<NotifyJobData>): Promise<{ result: NotifyResult; live: number }> => {
    const out = await writeNotification(deps, job.data);
    if (out.result === "written") stats.written("notify", 1, out.live);
    return out;
  };
}
