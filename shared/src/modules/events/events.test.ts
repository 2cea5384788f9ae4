import { afterAll, expect, test } from "bun:test";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createPresence } from "../presence/index.ts";
import { createEventStream, frameSeq } from "./index.ts";

const redis = createRedis(process.env.REDIS_URL!, "events-test");
const sub = createRedis(process.env.REDIS_URL!, "events-test-sub");
const keys = redisKeys(`${process.env.REDIS_PREFIX}events:`);
const events = createEventStream({ redis, keys, maxEvents: 5, maxAgeSeconds: 60 });
afterAll(() => {
  redis.disconnect();
  sub.disconnect();
});

test("appendMany gives each member its next seq, logs and publishes each frame, and reports presence", async () => {
  const members = ["101", "102", "103"];
  await createPresence({ redis, keys }).connected("102", "replica-a");
  const published: string[] = [];
  sub.on("message", (_ch: string, msg: string) => published.push(msg));
  await sub.subscribe(keys.memberChannel("101"));

  const first = await events.appendMany(members.map((userId) => ({ userId, kind: "message" as const, data: { n: 1 } })));
  const second = await events.appendMany(members.map((userId) => ({ userId, kind: "message" as const, data: { n: 2 } })));
  expect(first.map((a) => a.seq)).toEqual([1, 1, 1]);
  expect(second.map((a) => a.seq)).toEqual([2, 2, 2]);
  expect(first.map((a) => a.online)).toEqual([false, true, false]);
  const epochs = await Promise.all(members.map(async (m) => (await events.head(m)).epoch));
  expect(new Set(epochs).size).toBe(3);
  expect(epochs[0]).toHaveLength(8);

  const single = await events.append({ userId: "101", kind: "read", data: { n: 3 } });
  expect(single.seq).toBe(3);

  const replay = await events.replayAfter("101", 0, epochs[0]!);
  expect(replay.ok).toBe(true);
  if (!replay.ok) return;
  expect(replay.frames.map(frameSeq)).toEqual([1, 2, 3]);
  expect(replay.frames.map((f) => JSON.parse(f).data.n)).toEqual([1, 2, 3]);
  for (let i = 0; i < 50 && published.length < 3; i++) await Bun.sleep(20);
  expect(published).toEqual(replay.frames);
});

test("a stream whose epoch alone went missing gets a new one, so old cursors are refused", async () => {
  await events.append({ userId: "301", kind: "message", data: {} });
  const before = await events.head("301");
  await redis.del(keys.memberEpoch("301"));
  const after = await events.head("301");
  expect(after.seq).toBe(before.seq);
  expect(after.epoch).toHaveLength(8);
  expect(after.epoch).not.toBe(before.epoch);
  expect((await events.replayAfter("301", 0, before.epoch)).ok).toBe(false);
});

test("outside the window, replay refuses instead of skipping", async () => {
  for (let i = 0; i < 12; i++) await events.append({ userId: "201", kind: "message", data: { i } });
  const head = await events.head("201");
  expect((await events.replayAfter("201", 0, head.epoch)).ok).toBe(false);
  expect((await events.replayAfter("201", head.seq + 5, head.epoch)).ok).toBe(false);
  expect((await events.replayAfter("201", head.seq - 2, "other")).ok).toBe(false);
  const recent = await events.replayAfter("201", head.seq - 2, head.epoch);
  expect(recent.ok && recent.frames.map(frameSeq)).toEqual([head.seq - 1, head.seq]);
});
