/** The group-committed writer when Postgres does not answer in time, against real Postgres. */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb, createMessageWriteDb } from "../../db/index.ts";
import { AppError } from "../../errors/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createEventStream } from "../events/index.ts";
import { createConversation } from "./conversations.ts";
import { createMessageWriter } from "./writer.ts";

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 2 });
const writeSql = createMessageWriteDb(config.databaseUrl, "writer-test");
const redis = createRedis(config.redisUrl, "test-writer");
const keys = redisKeys(`${config.redisPrefix}writer-test:`);
const events = createEventStream({ redis, keys, maxEvents: 100, maxAgeSeconds: 3600 });

afterAll(async () => {
  redis.disconnect();
  await Promise.all([sql.end(), writeSql.end()]);
});

/** Holds every insert into messages (reads go through) until the returned function is called. */
async function holdInserts(): Promise<() => Promise<void>> {
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
  return async () => {
    release();
    await holder;
  };
}

async function rowsOf(conversationId: string, clientMsgId: string): Promise<number> {
  const [n] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${conversationId} and client_msg_id = ${clientMsgId}`;
  return n!.n;
}

test("a batch Postgres does not write within the deadline fails its sends with a 503, is cancelled with its connection; the resend is written once", async () => {
  const [a, b] = (await seedMembers(sql, 2)) as [string, string];
  const conv = await createConversation({ sql, redis, keys, events, maxBodyChars: 4000 }, a, [b]);
  const writer = createMessageWriter(writeSql, 300);
  const row = { conversationId: conv.id, senderId: a, clientMsgId: crypto.randomUUID(), body: "held", directPeer: b };
  const [before] = await writeSql<{ pid: number }[]>`select pg_backend_pid() as pid`;

  const release = await holdInserts();
  try {
    // (without the deadline this never settles: the lock is only released after it)
    const failure = await writer.write(row).then(() => null, (err: unknown) => err);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).status).toBe(503);
    expect((failure as AppError).code).toBe("unavailable");
    // the statement, stuck for a whole deadline, is given up with its connection (a killed
    // backend's query was seen to hold it for 35 s): a new one answers
    await Bun.sleep(150);
    const [after] = await writeSql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    expect(after!.pid).not.toBe(before!.pid);
  } finally {
    await release();
  }

  // whether or not the abandoned insert got through, the resend leaves exactly one row
  const again = await writer.write(row);
  expect(["inserted", "skipped"]).toContain(again.kind);
  expect(await rowsOf(conv.id, row.clientMsgId)).toBe(1);
});

test("a send's deadline counts from when it was asked for, not from when its batch started", async () => {
  const [a, b] = (await seedMembers(sql, 2)) as [string, string];
  const conv = await createConversation({ sql, redis, keys, events, maxBodyChars: 4000 }, a, [b]);
  const writer = createMessageWriter(writeSql, 2_000);
  const row = () => ({ conversationId: conv.id, senderId: a, clientMsgId: crypto.randomUUID(), body: "queued", directPeer: b });
  const release = await holdInserts();
  try {
    const first = writer.write(row()).then(() => null, (err: unknown) => err);
    await Bun.sleep(300);
    const askedAt = Date.now();
    // queued behind the held batch: it fails at its own deadline (~2 s), not after the first batch's
    // deadline and then a whole one of its own (~3.7 s)
    const second = await writer.write(row()).then(() => null, (err: unknown) => err);
    const waited = Date.now() - askedAt;
    expect(second).toBeInstanceOf(AppError);
    expect(await first).toBeInstanceOf(AppError);
    expect(waited).toBeLessThan(3_000);
  } finally {
    await release();
  }
});

test("after a stuck batch is given up, the next one is not dropped on the new connection because its sends waited before", async () => {
  const [a, b] = (await seedMembers(sql, 2)) as [string, string];
  const conv = await createConversation({ sql, redis, keys, events, maxBodyChars: 4000 }, a, [b]);
  const writer = createMessageWriter(writeSql, 800);
  const first = { conversationId: conv.id, senderId: a, clientMsgId: crypto.randomUUID(), body: "stuck", directPeer: b };
  const second = { ...first, clientMsgId: crypto.randomUUID(), body: "behind it" };
  const release = await holdInserts();
  try {
    const one = writer.write(first).then(() => null, (err: unknown) => err);
    await Bun.sleep(100);
    // its deadline passes ~100 ms after its batch starts on the new connection; the statement itself
    // goes on (it is not the connection's fault) and is written once the lock goes
    const two = writer.write(second).then(() => null, (err: unknown) => err);
    expect(await one).toBeInstanceOf(AppError);
    expect(await two).toBeInstanceOf(AppError);
    await Bun.sleep(200);
  } finally {
    await release();
  }
  for (let i = 0; i < 40 && (await rowsOf(conv.id, second.clientMsgId)) === 0; i++) await Bun.sleep(50);
  expect(await rowsOf(conv.id, second.clientMsgId)).toBe(1);
  expect(await writer.write(second)).toEqual({ kind: "skipped" }); // its resend is the row it left
});
