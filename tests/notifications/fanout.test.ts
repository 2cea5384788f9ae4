/**
 * Fan-out as it runs in production: the worker is its own process, killed with SIGKILL half way
 * through 25,000 followers, and another worker resumes the job from its checkpoint. Two chat
 * replicas hold the two clients of one online follower.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Queue } from "bullmq";
import { loadConfig } from "@xplicit/shared/config";
import { createDb } from "@xplicit/shared/db";
import { createNotifier, FENCE_BUCKETS, QUEUES, type BatchProgress } from "@xplicit/shared/modules/notifications";
import { createRedis, redisKeys } from "@xplicit/shared/redis";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, duplicateSeqs, member } from "../chat/fixtures.ts";
import { notificationCount, seedFollows, seedMembers } from "./seed.ts";
import { waitForJob } from "./in-process-worker.ts";

const FOLLOWERS = 25_000;
const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 4 });
const redis = createRedis(config.redisUrl, "test-fanout");
const prefix = redisKeys(config.redisPrefix).bullPrefix();
const notifier = createNotifier({ redis, prefix });
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    chatReplicas: 2,
    worker: true,
    env: { NOTIFICATIONS_JOB_LOCK_MS: "2000", FANOUT_BATCH_SIZE: "250" },
  });
});
afterAll(async () => {
  await stack.stop();
  // The killed worker's fences over the unread counters (notifications/unread.ts) lapse on their
  // own after 15 s, and until then no badge is cached: the test files after this one share the
  // run's Redis prefix and need not wait for that.
  const keys = redisKeys(config.redisPrefix);
  await redis.del(...Array.from({ length: FENCE_BUCKETS }, (_, b) => keys.unreadWriters(b)));
  await notifier.close();
  redis.disconnect();
  await sql.end();
});

async function progressOf(queue: Queue, jobId: string): Promise<BatchProgress | null> {
  const job = await queue.getJob(jobId);
  return job && typeof job.progress === "object" ? (job.progress as BatchProgress) : null;
}

test("fan-out to 25,000 followers survives a SIGKILL mid-way: exactly 25,000 rows, one live event per client", async () => {
  const actor = await member(stack);
  const online = await member(stack);
  const [first, second] = [await connected(online, stack.chats[0]!), await connected(online, stack.chats[1]!)];
  const others = await seedMembers(sql, FOLLOWERS - 1);
  const followers = [...others.slice(0, 12_000), online.id, ...others.slice(12_000)];
  await seedFollows(sql, actor.id, followers);

  const jobId = await notifier.fanoutToFollowers({ actorId: actor.id, type: "post", subjectId: "4242", dedupeKey: "post:4242" });
  const queue = new Queue(QUEUES.fanout, { connection: redis, prefix });
  try {
    // wait until the job is part-way, then kill the worker without warning
    const deadline = Date.now() + 30_000;
    while (((await progressOf(queue, jobId))?.written ?? 0) < 2_000) {
      if (Date.now() > deadline) throw new Error("fan-out never started");
      await Bun.sleep(5);
    }
    await stack.kill(stack.worker!, "SIGKILL");
    const atKill = await notificationCount(sql, followers, "post");
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(FOLLOWERS);
    expect(await (await queue.getJob(jobId))!.getState()).toBe("active");

    await stack.restart(stack.worker!);
    const result = (await waitForJob("fanout", jobId, 60_000)) as { written: number; scanned: number };
    expect(result.scanned).toBe(FOLLOWERS);
    expect(await notificationCount(sql, followers, "post")).toBe(FOLLOWERS);
    const [dups] = await sql<{ n: number }[]>`
      select count(*)::int as n from (
        select user_id from notifications where dedupe_key = 'post:4242' group by user_id having count(*) > 1
      ) d`;
    expect(dups!.n).toBe(0);
  } finally {
    await queue.close();
  }

  // the online follower: each of their two clients (on two replicas) got the event exactly once
  for (const client of [first, second]) {
    await client.waitFor(() => client.events.some((e) => e.kind === "notification"), 10_000, "notification event");
    await Bun.sleep(200);
    const notes = client.events.filter((e) => e.kind === "notification");
    expect(notes).toHaveLength(1);
    expect(notes[0]!.data.notification).toMatchObject({ type: "post", subjectId: "4242", actor: { handle: actor.handle } });
    expect(notes[0]!.data.unread).toBe(1);
    expect(duplicateSeqs(client)).toEqual([]);
  }
  expect((await online.http.get("/api/notifications/unread-count")).json.unread).toBe(1);
}, 120_000);

test("SIGTERM finishes the current batch, puts the job back at its checkpoint, and exits 0", async () => {
  const actor = await member(stack);
  const followers = await seedMembers(sql, 10_000);
  await seedFollows(sql, actor.id, followers);
  const jobId = await notifier.fanoutToFollowers({ actorId: actor.id, type: "post", subjectId: "77", dedupeKey: "post:77" });
  const queue = new Queue(QUEUES.fanout, { connection: redis, prefix });
  try {
    while (((await progressOf(queue, jobId))?.written ?? 0) < 1_000) await Bun.sleep(5);
    expect(await stack.kill(stack.worker!, "SIGTERM")).toBe(0);
    const job = (await queue.getJob(jobId))!;
    expect(await job.getState()).toBe("waiting");
    expect(job.attemptsMade).toBe(0);
    const written = await notificationCount(sql, followers, "post");
    expect(written).toBeLessThan(10_000);
    expect(job.data.written).toBe(written);

    await stack.restart(stack.worker!);
    await waitForJob("fanout", jobId, 60_000);
    expect(await notificationCount(sql, followers, "post")).toBe(10_000);
  } finally {
    await queue.close();
  }
}, 120_000);

test("the worker's operator endpoints report queues and throughput", async () => {
  const status = await (await fetch(`${stack.worker!.url}/status`)).json();
  expect(status.service).toBe("notification-worker");
  expect(status.queues[QUEUES.fanout]).toHaveProperty("completed");
  expect(status.throughput).toHaveProperty("rowsPerSecond");
  const metrics = await (await fetch(`${stack.worker!.url}/metrics`)).text();
  expect(metrics).toContain("notifications_rows_written_total");
  expect(metrics).toContain("notifications_queue_jobs");
  expect((await fetch(`${stack.worker!.url}/readyz`)).status).toBe(200);
});
