/**
 * What `fanout` and `broadcast` share: resume from the job's checkpoint, run the batches, write
 * the checkpoint back after each one, and on shutdown put the job back in the queue (not failed)
 * so another worker resumes it from there.
 */
import { WaitingError, type Job } from "bullmq";
import {
  runBatches, type BatchCheckpoint, type BatchProgress, type BatchTemplate, type RecipientSource,
} from "@xplicit/shared/modules/notifications";
import type { WorkerDeps } from "../deps.ts";
import type { Stats } from "../stats.ts";

export interface BulkContext {
  deps: WorkerDeps;
  stats: Stats;
  queue: string;
  stopping: () => boolean;
}

export async function runBulkJob<T extends Partial<BatchCheckpoint>>(
  ctx: BulkContext,
  job: Job<T>,
  token: string | undefined,
  source: RecipientSource,
  template: BatchTemplate,
  total: number | null,
  /** also keeps each checkpoint elsewhere (a broadcast's row: Redis may lose the job) */
  keep?: (cp: BatchCheckpoint) => Promise<void>,
): Promise<{ written: number; scanned: number; live: number }> {
  const from: BatchCheckpoint = { cursor: job.data.cursor ?? null, written: job.data.written ?? 0, scanned: job.data.scanned ?? 0 };
  const outcome = await runBatches(ctx.deps, {
    source,
    template,
    batchSize: ctx.deps.config.notifications.fanoutBatchSize,
    from,
    stopping: ctx.stopping,
    checkpoint: async (cp) => {
      // independent writes to the job: one round trip for both
      const progress: BatchProgress = { ...cp, total };
      await Promise.all([job.updateData({ ...job.data, ...cp }), job.updateProgress({ ...progress }), keep?.(cp)]);
    },
    onBatch: (s) => {
      ctx.stats.written(ctx.queue, s.rows, s.live);
      ctx.stats.batch(s.rows, s.ms);
    },
  });
  if (!outcome.done) {
    // Shutting down: the current batch is written and checkpointed; leave the rest to another worker.
    await job.moveToWait(token);
    throw new WaitingError();
  }
  return { written: outcome.written, scanned: outcome.scanned, live: outcome.live };
}
