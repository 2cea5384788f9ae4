/** The notification worker's job consumers inside the test process (the crash test spawns real processes). */
import { loadConfig } from "@xplicit/shared/config";
import { Queue } from "bullmq";
import { QUEUES, jobIdFor, type QueueKind } from "@xplicit/shared/modules/notifications";
import { redisKeys, createRedis } from "@xplicit/shared/redis";
import { createWorkerDeps } from "../../services/notification-worker/src/deps.ts";
import { startWorkers } from "../../services/notification-worker/src/workers.ts";

export async function startInProcessWorker(env: Record<string, string> = {}) {
  const config = loadConfig({ ...process.env, ...env });
  const deps = createWorkerDeps({ ...config, databasePoolSize: 4 }, "test-worker");
  const running = await startWorkers(deps);
  return {
    deps,
    running,
    async stop() {
      await running.stop();
      await deps.close();
    },
  };
}

/** Waits until the job is completed (or throws with its failure). */
export async function waitForJob(kind: QueueKind, jobId: string, timeoutMs = 20_000): Promise<unknown> {
  const config = loadConfig();
  const redis = createRedis(config.redisUrl, "test-wait");
  const queue = new Queue(QUEUES[kind], { connection: redis, prefix: redisKeys(config.redisPrefix).bullPrefix() });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const job = await queue.getJob(jobId);
      if (job) {
        const state = await job.getState();
        // The job was read before it finished: read it again for the return value it completed with.
        if (state === "completed") return (await queue.getJob(jobId))?.returnvalue ?? job.returnvalue;
        if (state === "failed") throw new Error(`job ${jobId} failed: ${job.failedReason}`);
      }
      await Bun.sleep(50);
    }
    throw new Error(`job ${jobId} did not complete in ${timeoutMs} ms`);
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

export const followJobId = (followeeId: string, followerId: string) => jobIdFor("notify", followeeId, `follow:${followerId}`);
