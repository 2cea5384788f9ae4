/**
 * The naive baseline: one BullMQ job per recipient, each job one INSERT (plus the same unread
 * bump and live event for online recipients), run on a sample and extrapolated.
 */
import { Queue, Worker, type Job } from "bullmq";
import type { Sql } from "@xplicit/shared/db";
import type { EventStream } from "@xplicit/shared/modules/events";
import type { Presence } from "@xplicit/shared/modules/presence";
import type { Redis, RedisKeys } from "@xplicit/shared/redis";

interface NaiveJob {
  userId: string;
  actorId: string;
}

export async function naiveBaseline(
  deps: { sql: Sql; redis: Redis; keys: RedisKeys; events: EventStream; presence: Presence; redisUrl: string },
  userIds: readonly string[],
  actorId: string,
  concurrency: number,
): Promise<number> {
  const prefix = deps.keys.bullPrefix();
  const name = "bench-naive";
  const queue = new Queue<NaiveJob>(name, { connection: deps.redis, prefix });
  await queue.obliterate({ force: true });
  const ts = new Date();
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const started = performance.now();
  for (let i = 0; i < userIds.length; i += 1000) {
    await queue.addBulk(userIds.slice(i, i + 1000).map((userId) => ({ name: "notify", data: { userId, actorId }, opts: { removeOnComplete: true } })));
  }
  const worker = new Worker<NaiveJob>(
    name,
    async (job: Job<NaiveJob>) => {
      const [row] = await deps.sql<{ id: string }[]>`
        insert into notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at)
        values (${job.data.userId}, 'post', ${job.data.actorId}, 2, 'post:naive', ${ts})
        on conflict do nothing returning id`;
      if (row && (await deps.presence.online([job.data.userId]))[0]) {
        await deps.events.append({ userId: job.data.userId, kind: "notification", data: { notification: { id: row.id, type: "post" }, unread: 1 } });
      }
      if (++done === userIds.length) finish();
    },
    { connection: { url: deps.redisUrl }, prefix, concurrency },
  );
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return seconds;
}
