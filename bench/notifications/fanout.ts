/** One end-to-end fan-out: the real worker process, one `fanout` job, timed from enqueue to completion. */
import { readFileSync } from "node:fs";
import { Queue } from "bullmq";
import { createNotifier, QUEUES } from "@xplicit/shared/modules/notifications";
import type { Redis, RedisKeys } from "@xplicit/shared/redis";

const ROOT = new URL("../..", import.meta.url).pathname;

export interface FanoutRun {
  seconds: number;
  rows: number;
  live: number;
  peakRssBytes: number;
  /** CPU seconds (user + system) the worker process used from enqueue to completion */
  workerCpuSeconds: number;
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = s.port!;
  s.stop(true);
  return port;
}

export async function endToEndFanout(redis: Redis, keys: RedisKeys, actorId: string, run: number, env: Record<string, string>): Promise<FanoutRun> {
  const port = await freePort();
  // BENCH_WORKER_CPU_PROF=<dir>: write a CPU profile of the worker there (when it exits)
  const prof = process.env.BENCH_WORKER_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_WORKER_CPU_PROF}`] : [];
  const proc = Bun.spawn([process.execPath, ...prof, "services/notification-worker/src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env, WORKER_PORT: String(port) },
    stdout: "inherit",
    stderr: "inherit",
  });
  try {
    for (let i = 0; ; i++) {
      if (i > 200) throw new Error("worker did not become ready");
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      await Bun.sleep(100);
    }
    const notifier = createNotifier({ redis, prefix: keys.bullPrefix() });
    const queue = new Queue(QUEUES.fanout, { connection: redis, prefix: keys.bullPrefix() });
    const cpuAtStart = cpuSeconds(proc.pid);
    const started = performance.now();
    const jobId = await notifier.fanoutToFollowers({ actorId, type: "post", subjectId: String(run), dedupeKey: `post:bench:${run}` });
    for (;;) {
      const state = await queue.getJobState(jobId);
      if (state === "completed") {
        const seconds = (performance.now() - started) / 1000;
        // read the job after its state: a job read before it completed has no return value yet
        const job = await queue.getJob(jobId);
        const value = job!.returnvalue as { written: number; live: number };
        const peakRssBytes = peakRss(proc.pid);
        const workerCpuSeconds = cpuSeconds(proc.pid) - cpuAtStart;
        await Promise.all([notifier.close(), queue.close()]);
        return { seconds, rows: value.written, live: value.live, peakRssBytes, workerCpuSeconds };
      }
      if (state === "failed") throw new Error(`fan-out failed: ${(await queue.getJob(jobId))?.failedReason}`);
      await Bun.sleep(20);
    }
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}
