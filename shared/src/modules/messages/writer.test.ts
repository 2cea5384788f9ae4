/** The group-committed writer when Postgres does not answer in time, against real Postgres. */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { AppError } from "../../errors/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createEventStream } from "../events/index.ts";
import { createConversation } from "./conversations.ts";
import { createMessageWriter } from "./writer.ts";

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 2 });
const writeSql = createDb(config.databaseUrl, { max: 1 });
const redis = createRedis(config.redisUrl, "test-writer");
const keys = redisKeys(`${config.redisPrefix}writer-test:`);
const events = createEventStream({ redis, keys, maxEvents: 100, maxAgeSeconds: 3600 });

afterAll(async () => {
  redis.disconnect();
  await Promise.all([sql.end(), writeSql.end()]);
});

test("a batch Postgres does not write within the deadline fails its sends with a 503 to resend; the resend finds the row that committed late", async () => {
  const [a, b] = (await seedMembers(sql, 2)) as [string, string];
  const conv = await createConversation({ sql, redis, keys, events, maxBodyChars: 4000 }, a, [b]);
  const writer = createMessageWriter(writeSql, 300);
  const row = { conversationId: conv.id, senderId: a, clientMsgId: crypto.randomUUID(), body: "held", directPeer: b };

  // a lock that lets reads through and holds every insert into messages, as an unanswering Postgres would
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holder = sql.begin(async (tx) => {
    await tx`lock table messages in share mode`;
    locked();
    await released;
  });
  await isLocked;

  // (without the deadline this never settles: the lock is only released after it)
  const failure = await writer.write(row).then(() => null, (err: unknown) => err);
  expect(failure).toBeInstanceOf(AppError);
  expect((failure as AppError).status).toBe(503);
  expect((failure as AppError).code).toBe("unavailable");

  release();
  await holder;
  // the held insert commits once the lock goes; the resend of the same id is then a repeat
  for (let i = 0; i < 50; i++) {
    const [n] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${conv.id} and client_msg_id = ${row.clientMsgId}`;
    if (n!.n === 1) break;
    await Bun.sleep(50);
  }
  expect(await writer.write(row)).toEqual({ kind: "skipped" });
  const [count] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${conv.id} and client_msg_id = ${row.clientMsgId}`;
  expect(count!.n).toBe(1);
});
