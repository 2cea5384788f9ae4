/**
 * The BullMQ side of the worker: one Worker per named queue, the repeatable `partitions` job, and
 * queue depth figures. Any number of worker processes may run this against the same queues.
 */
import { Queue, Worker, type Processor } from "bullmq";
import { whenPostgresIsReachable } from "@xplicit/shared/db";
import { createLogger } from "@xplicit/shared/log";
import { DEFAULT_JOB_OPTIONS, QUEUES, quietQueue, type BroadcastJobData, type QueueKind } from "@xplicit/shared/modules/notifications";
import type { WorkerDeps } from "./deps.ts";
import { broadcastProcessor } from "./jobs/broadcast.ts";
import { fanoutProcessor } from "./jobs/fanout.ts";
import { notifyProcessor } from "./jobs/notify.ts";
import { maintainPartitions, partitionsProcessor } from "./jobs/partitions.ts";
import { recoverLostJobs, schedulePartitions } from "./jobs/recovery.ts";
import { createStats, queueJobs, type Stats } from "./stats.ts";

const log = createLogger("notifications.worker");
const STATES = ["active", "waiting", "delayed", "failed", "completed"] as const;
const RECOVERY_EVERY_MS = 60_000;

export interface RunningWorkers {
  stats: Stats;
  /** stop taking jobs; running bulk jobs finish their current batch and go back to the queue */
  stop(): Promise<void>;
  queueCounts(): Promise<Record<string, Record<string, number>>>;
  status(): Promise<Record<string, unknown>>;
}

export async function startWorkers(deps: WorkerDeps): Promise<RunningWorkers> {
  const { config } = deps;
  const prefix = deps.keys.bullPrefix();
  const stats = createStats();
  let stopping = false;
  const ctx = (queue: string) => ({ deps, stats, queue, stopping: () => stopping });

  // (the daily job makes them later anyway: Postgres away now is waited out, not a crash)
  await whenPostgresIsReachable("make the month partitions", () => maintainPartitions(deps), log);

  const queues = Object.fromEntries(
    (Object.keys(QUEUES) as QueueKind[]).map((k) => [k, quietQueue(new Queue(QUEUES[k], { connection: deps.redis, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS }))]),
  ) as Record<QueueKind, Queue>;
  await schedulePartitions(queues.maintenance);

  const base = {
    connection: { url: config.redisUrl, connectionName: "notification-worker:bull" },
    prefix,
    lockDuration: config.notifications.jobLockMs,
    stalledInterval: config.notifications.jobLockMs,
    maxStalledCount: 5,
  };
  const make = (kind: QueueKind, processor: Processor, concurrency: number) => {
    const w = new Worker(QUEUES[kind], processor, { ...base, concurrency });
    w.on("failed", (job, err) => log.warn("job failed", { queue: QUEUES[kind], jobId: job?.id, attempt: job?.attemptsMade, error: err.message }));
    w.on("error", (err) => log.error("worker error", { queue: QUEUES[kind], error: err.message }));
    return w;
  };
  const workers = [
    make("notify", notifyProcessor(deps, stats) as Processor, config.notifications.notifyConcurrency),
    make("fanout", fanoutProcessor(ctx("fanout")) as Processor, 1),
    make("broadcast", broadcastProcessor(ctx("broadcast")) as Processor, 1),
    make("maintenance", partitionsProcessor(deps) as Processor, 1),
  ];

  async function queueCounts() {
    const out: Record<string, Record<string, number>> = {};
    for (const [kind, q] of Object.entries(queues)) {
      const counts = await q.getJobCounts(...STATES);
      out[QUEUES[kind as QueueKind]] = counts;
      for (const s of STATES) queueJobs.set({ queue: QUEUES[kind as QueueKind], state: s }, counts[s] ?? 0);
    }
    return out;
  }
  const gaugeTimer = setInterval(() => void queueCounts().catch(() => {}), 5000);
  gaugeTimer.unref?.();
  // What a Redis that lost its data took with it (jobs/recovery.ts): looked for every minute.
  const recover = () => recoverLostJobs(deps.sql, { maintenance: queues.maintenance, broadcast: queues.broadcast as Queue<BroadcastJobData> });
  const recoveryTimer = setInterval(() => void recover().catch((err: Error) => log.warn("recovery sweep failed", { error: err.message })), RECOVERY_EVERY_MS);
  recoveryTimer.unref?.();

  return {
    stats,
    queueCounts,
    async status() {
      return { queues: await queueCounts(), throughput: stats.snapshot(), stopping };
    },
    async stop() {
      stopping = true;
      clearInterval(gaugeTimer);
      clearInterval(recoveryTimer);
      await Promise.allSettled(workers.map((w) => w.close()));
      await Promise.allSettled(Object.values(queues).map((q) => q.close()));
    },
  };
}
