/** The message write path's repeat handling against real Postgres and Redis. */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createEventStream } from "../events/index.ts";
import { createConversation } from "./conversations.ts";
import { sendMessage } from "./send.ts";
import type { MessagingDeps } from "./types.ts";

setDefaultTimeout(60_000);

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 4 });
const redis = createRedis(config.redisUrl, "test-messages");
const keys = redisKeys(`${config.redisPrefix}send-test:`);
const events = createEventStream({ redis, keys, maxEvents: 1000, maxAgeSeconds: 3600 });
const deps: MessagingDeps = { sql, redis, keys, events, maxBodyChars: 4000 };

afterAll(async () => {
  redis.disconnect();
  await sql.end();
});

async function pair() {
  const [a, b] = (await seedMembers(sql, 2)) as [string, string];
  const conv = await createConversation(deps, a, [b]);
  return { a, b, conv: conv.id };
}

async function messageEvents(userId: string) {
  const replay = await events.replayAfter(userId, 0, null);
  if (!replay.ok) throw new Error(replay.reason);
  return replay.frames.map((f) => JSON.parse(f) as { seq: number; kind: string; data: { messageId: string } }).filter((e) => e.kind === "message");
}

test("concurrent repeats of one id: one row, one event per member, the same answer for all", async () => {
  const { a, b, conv } = await pair();
  const input = { id: crypto.randomUUID(), conversationId: conv, body: "hello" };
  const results = await Promise.all(Array.from({ length: 5 }, () => sendMessage(deps, a, input)));
  expect(new Set(results.map((r) => JSON.stringify(r.answer))).size).toBe(1);
  expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${conv} and client_msg_id = ${input.id}`;
  expect(row!.n).toBe(1);
  expect(await messageEvents(b)).toHaveLength(1);
  const own = await messageEvents(a);
  expect(own.map((e) => e.seq)).toEqual([results[0]!.answer.seq]);
});

test("a repeat whose answer was lost is announced again from the row (same message id), once", async () => {
  const { a, b, conv } = await pair();
  const input = { id: crypto.randomUUID(), conversationId: conv, body: "once" };
  const first = await sendMessage(deps, a, input);
  await redis.del(keys.sendDedup(a, input.id));
  // the row is young, so the repeat first waits for a first attempt that might still be running
  const again = await sendMessage(deps, a, input);
  expect(again.duplicate).toBe(true);
  expect(again.answer.messageId).toBe(first.answer.messageId);
  const third = await sendMessage(deps, a, input);
  expect(third.answer).toEqual(again.answer);
  const seen = await messageEvents(b);
  expect(seen.map((e) => e.data.messageId)).toEqual([first.answer.messageId, first.answer.messageId]);
  expect(seen[1]!.seq).toBe(seen[0]!.seq + 1);
});

test("a first attempt held up past the repeat's grace keeps its row when the repeat has announced it", async () => {
  const { a, b, conv } = await pair();
  const input = { id: crypto.randomUUID(), conversationId: conv, body: "slow" };
  // the first attempt's Postgres write lands at once; its Redis command is held up for 3.5 s
  const held: MessagingDeps = {
    ...deps,
    events: { ...events, appendOnce: async (...args) => (await Bun.sleep(3_500), events.appendOnce(...args)) },
  };
  const first = sendMessage(held, a, input);
  await Bun.sleep(100);
  const repeat = await sendMessage(deps, a, input);
  const firstResult = await first;
  expect(firstResult.answer).toEqual(repeat.answer);
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${conv} and client_msg_id = ${input.id}`;
  expect(row!.n).toBe(1);
  expect(await messageEvents(b)).toHaveLength(1);
});

test("an id reused for another conversation is refused and leaves no row there", async () => {
  const { a, conv } = await pair();
  const [c] = await seedMembers(sql, 1);
  const other = (await createConversation(deps, a, [c!])).id;
  const id = crypto.randomUUID();
  await sendMessage(deps, a, { id, conversationId: conv, body: "first" });
  await expect(sendMessage(deps, a, { id, conversationId: other, body: "second" })).rejects.toMatchObject({ status: 409 });
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${other}`;
  expect(row!.n).toBe(0);
});
