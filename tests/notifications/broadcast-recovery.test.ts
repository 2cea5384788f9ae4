/**
 * A broadcast whose job Redis lost (a restart without persistence): the worker's sweep enqueues it
 * again from the checkpoint kept in its row, once, and the resumed job finishes it for everyone.
 */
import { afterAll, expect, test } from "bun:test";
import { Queue } from "bullmq";
import { loadConfig } from "@xplicit/shared/config";
import { createDb } from "@xplicit/shared/db";
import { QUEUES, broadcastJobId, type BroadcastJobData } from "@xplicit/shared/modules/notifications";
import { createRedis, redisKeys } from "@xplicit/shared/redis";
import { recoverLostJobs, requeueLostBroadcasts } from "../../services/notification-worker/src/jobs/recovery.ts";
import { seedMembers } from "./seed.ts";
import { startInProcessWorker, waitForJob } from "./in-process-worker.ts";

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 2 });
const redis = createRedis(config.redisUrl, "test-recovery");
const queue = new Queue<BroadcastJobData>(QUEUES.broadcast, { connection: redis, prefix: redisKeys(config.redisPrefix).bullPrefix() });
afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await sql.end();
});

test("an unfinished broadcast without a job is enqueued again from its checkpoint, once, and finishes", async () => {
  const members = await seedMembers(sql, 6);
  const [admin] = members;
  // as the api leaves it, 40 s ago; a worker wrote the first page (members up to the checkpoint) and
  // then Redis lost the job
  const [b] = await sql<{ id: string; created_at: Date }[]>`
    insert into broadcasts (title, body, created_by, created_at, checkpoint_cursor, recipients_written, recipients_scanned)
    values ('lost', 'in a restart', ${admin!}, now() - interval '40 seconds', ${members[2]!}, 3, 3)
    returning id, created_at`;
  const young = await sql<{ id: string }[]>`
    insert into broadcasts (title, body, created_by) values ('just made', 'still being enqueued', ${admin!}) returning id`;

  // (other tests' broadcasts may be in this database too)
  const requeued = await requeueLostBroadcasts(sql, queue);
  expect(requeued).toContain(b!.id);
  expect(requeued).not.toContain(young[0]!.id); // the api may still be enqueueing that one
  const job = await queue.getJob(broadcastJobId(b!.id));
  expect(job?.data).toMatchObject({ broadcastId: b!.id, occurredAt: b!.created_at.getTime(), cursor: members[2]!, written: 3, scanned: 3 });
  expect(await requeueLostBroadcasts(sql, queue)).not.toContain(b!.id); // its job exists now

  // the resumed job writes from the checkpoint on (members after it get the broadcast) and finishes
  const worker = await startInProcessWorker();
  try {
    await waitForJob("broadcast", broadcastJobId(b!.id), 30_000);
  } finally {
    await worker.stop();
  }
  const [done] = await sql<{ finished_at: Date | null; recipients_written: string }[]>`select finished_at, recipients_written from broadcasts where id = ${b!.id}`;
  expect(done!.finished_at).not.toBeNull();
  // from the checkpoint on: the members after it have the broadcast, those up to it got nothing new
  const [rows] = await sql<{ before: number; after: number }[]>`
    select count(*) filter (where user_id <= ${members[2]!})::int as before, count(*) filter (where user_id > ${members[2]!})::int as after
    from notifications where dedupe_key = ${`broadcast:${b!.id}`} and user_id = any(${members}::bigint[])`;
  expect(rows).toEqual({ before: 0, after: 3 });
}, 60_000);

test("the sweep sets the partitions schedule again when Redis lost it", async () => {
  const maintenance = new Queue(QUEUES.maintenance, { connection: redis, prefix: redisKeys(config.redisPrefix).bullPrefix() });
  try {
    await maintenance.removeJobScheduler("partitions");
    expect(await maintenance.getJobScheduler("partitions")).toBeFalsy();
    await recoverLostJobs(sql, { maintenance, broadcast: queue });
    expect((await maintenance.getJobScheduler("partitions"))?.every).toBe(6 * 3600 * 1000);
  } finally {
    await maintenance.close();
  }
});
