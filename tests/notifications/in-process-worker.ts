/** The notification worker's job consumers inside the test process (the crash test spawns real processes). */
import { afterAll, beforeAll } from "bun:test";
import { loadConfig } from "@xplicit/shared/config";
import { Queue } from "bullmq";
import { QUEUES, jobIdFor, type QueueKind } from "@xplicit/shared/modules/notifications";
import { redisKeys, createRedis } from "@xplicit/shared/redis";
import { createWorkerDeps } from "../../services/notification-worker/src/deps.ts";
import { startWorkers } from "../../services/notification-worker/src/workers.ts";
import { startTestApi, type TestApi } from "../harness/api.ts";

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

/**
 * The real api plus the worker's consumers for one test file: started before its tests, stopped
 * after them. The handle can be taken at load time and used from the tests.
 */
export function apiWithWorker(workerEnv: Record<string, string> = {}): TestApi {
  let api: TestApi | null = null;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>> | null = null;
  beforeAll(async () => {
    api = await startTestApi();
    worker = await startInProcessWorker(workerEnv);
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
  });
  const started = (): TestApi => {
    if (!api) throw new Error("the api is started in beforeAll: use it from a test");
    return api;
  };
  return {
    get url() {
      return started().url;
    },
    get deps() {
      return started().deps;
    },
    client: () => started().client(),
    stop: () => started().stop(),
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
