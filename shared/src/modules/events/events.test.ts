import { afterAll, expect, test } from "bun:test";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createPresence } from "../presence/index.ts";
import { createEventStream, frameSeq } from "./index.ts";

/** A member's own epoch and the streams' generation (a new one for each Redis run). */
const EPOCH_SHAPE = /^[0-9a-f]{8}\.[0-9a-f]{8}$/;

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
  expect(epochs[0]).toMatch(EPOCH_SHAPE);

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
  expect(after.epoch).toMatch(EPOCH_SHAPE);
  expect(after.epoch).not.toBe(before.epoch);
  expect((await events.replayAfter("301", 0, before.epoch)).ok).toBe(false);
});

test("an empty stream already has an epoch, so a client's cursor never outlives a Redis data loss", async () => {
  const empty = await events.head("401");
  expect(empty).toEqual({ seq: 0, epoch: expect.any(String) });
  expect(empty.epoch).toMatch(EPOCH_SHAPE);
  for (let i = 0; i < 5; i++) await events.append({ userId: "401", kind: "message", data: { i } });
  expect((await events.head("401")).epoch).toBe(empty.epoch);
  // Redis lost everything; new events are numbered from 1 again
  await redis.del(keys.memberSeq("401"), keys.memberEpoch("401"), keys.memberLog("401"));
  for (let i = 0; i < 7; i++) await events.append({ userId: "401", kind: "message", data: { i } });
  const resumed = await events.replayAfter("401", 5, empty.epoch);
  expect(resumed).toMatchObject({ ok: false, reason: "epoch_changed" });
});

test("a lost counter with its log left behind starts a new epoch and appends keep working", async () => {
  for (let i = 0; i < 3; i++) await events.append({ userId: "402", kind: "message", data: { i } });
  const before = await events.head("402");
  await redis.del(keys.memberSeq("402"));
  const next = await events.append({ userId: "402", kind: "message", data: { after: true } });
  expect(next.seq).toBe(1);
  const after = await events.head("402");
  expect(after.epoch).not.toBe(before.epoch);
  expect((await events.replayAfter("402", 0, after.epoch)).ok).toBe(true);
  expect((await events.replayAfter("402", 1, before.epoch)).ok).toBe(false);
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

test("guarded appends asked for in one tick share one Redis command, and each gets its own outcome", async () => {
  const guard = (key: string) => ({ key: keys.sendDedup("501", key), ttlSeconds: 60, seqOf: 0, head: '{"seq":', tail: "}" });
  const msg = (n: number) => ["501", "502"].map((userId) => ({ userId, kind: "message" as const, data: { n } }));
  await redis.set(keys.sendDedup("501", "taken"), '{"seq":0}');
  // a counter that is not a number makes that one append fail inside the script
  await redis.set(keys.memberSeq("503"), "not a number");
  await events.appendOnce(msg(0), guard("warm")); // loads the script, as any earlier send would have

  const monitor = await createRedis(process.env.REDIS_URL!, "events-test-monitor").monitor();
  const commands: string[] = [];
  monitor.on("monitor", (_t: string, args: string[], source: string) => {
    if (source !== "lua" && args.some((a) => a.includes(keys.prefix))) commands.push(args[0]!.toLowerCase());
  });
  await Bun.sleep(50);
  const outcomes = await Promise.allSettled([
    events.appendOnce(msg(1), guard("first")),
    events.appendOnce(msg(2), guard("taken")),
    events.appendOnce([{ userId: "503", kind: "message", data: { n: 3 } }], guard("broken")),
    events.appendOnce(msg(4), guard("fourth")),
  ]);
  await Bun.sleep(100);
  monitor.disconnect();
  expect(commands).toEqual(["evalsha"]);

  const [first, taken, broken, fourth] = outcomes;
  expect(first).toMatchObject({ status: "fulfilled", value: { ok: true, appended: [{ userId: "501", seq: 2 }, { userId: "502", seq: 2 }] } });
  expect(taken).toEqual({ status: "fulfilled", value: { ok: false, existing: '{"seq":0}' } });
  expect(broken.status).toBe("rejected");
  expect(fourth).toMatchObject({ status: "fulfilled", value: { ok: true, appended: [{ seq: 3 }, { seq: 3 }] } });
  // the frame handed back is the one the sender's stream holds, byte for byte
  const head = await events.head("501");
  const replay = await events.replayAfter("501", 1, head.epoch);
  expect(replay.ok && replay.frames).toEqual([(first as PromiseFulfilledResult<any>).value.frame, (fourth as PromiseFulfilledResult<any>).value.frame]);
  expect(await redis.get(keys.sendDedup("501", "fourth"))).toBe('{"seq":3}');
});

test("a guarded member's event is published unless presence shows the asking replica as the only one holding their sockets", async () => {
  const presence = createPresence({ redis, keys });
  const watcher = createRedis(process.env.REDIS_URL!, "events-test-watch");
  const seen = new Map<string, number[]>([["601", []], ["602", []]]);
  watcher.on("message", (ch: string, text: string) => seen.get(ch.slice(keys.memberChannel("").length))?.push(frameSeq(text)));
  await watcher.subscribe(keys.memberChannel("601"), keys.memberChannel("602"));
  let n = 0;
  const send = () =>
    events.appendOnce(
      ["601", "602"].map((userId) => ({ userId, kind: "message" as const, data: { n } })),
      { key: keys.sendDedup("601", `own-${++n}`), ttlSeconds: 60, seqOf: 0, head: '{"seq":', tail: "}", localReplica: "replica-a" },
    );

  await send(); // 601 held nowhere: published (presence that says nothing is never trusted to)
  await presence.connected("601", "replica-a");
  await send(); // only here: quiet
  await presence.connected("601", "replica-b");
  await send(); // here and elsewhere: published
  await presence.disconnected("601", "replica-a");
  await send(); // only elsewhere: published
  for (let i = 0; i < 50 && seen.get("602")!.length < 4; i++) await Bun.sleep(20);
  await Bun.sleep(50);
  watcher.disconnect();
  expect(seen.get("601")).toEqual([1, 3, 4]);
  // the other member's event is always published, and every event of both is in the logs
  expect(seen.get("602")).toEqual([1, 2, 3, 4]);
  const replay = await events.replayAfter("601", 0, (await events.head("601")).epoch);
  expect(replay.ok && replay.frames.map(frameSeq)).toEqual([1, 2, 3, 4]);
});

test("a member keeps acks of at most 100 clients: a new one replaces another, never itself, and a known one is never refused", async () => {
  const member = "140";
  await events.append({ userId: member, kind: "message", data: {} });
  const { epoch } = await events.head(member);
  const clients = Array.from({ length: 250 }, (_, i) => `client-${String(i).padStart(4, "0")}`);
  await events.storeAcks(clients.map((clientId) => ({ userId: member, clientId, seq: 1, epoch })));
  expect(await redis.hlen(keys.memberAcks(member))).toBe(100);
  // the newest ack is always kept
  expect(await events.loadAck(member, clients.at(-1)!)).toEqual({ seq: 1, epoch });
  // a client already kept moves forward without evicting anyone
  const kept = (await redis.hkeys(keys.memberAcks(member))).find((c) => c !== clients.at(-1))!;
  await events.append({ userId: member, kind: "message", data: {} });
  await events.storeAck(member, kept, 2, epoch);
  expect(await redis.hlen(keys.memberAcks(member))).toBe(100);
  expect(await events.loadAck(member, kept)).toEqual({ seq: 2, epoch });
});

test("a member's log is bounded in bytes as well as in events: the oldest frames go, never the newest, and a cursor behind them resyncs", async () => {
  const small = createEventStream({ redis, keys, maxEvents: 1000, maxAgeSeconds: 60, maxBytes: 65_536 });
  const big = "x".repeat(4000);
  for (let i = 0; i < 60; i++) await small.appendMany(["801", "802"].map((userId) => ({ userId, kind: "message" as const, data: { i, big } })));
  const log = (await redis.xrange(keys.memberLog("801"), "-", "+")) as [string, string[]][];
  const bytes = log.reduce((n, [, fields]) => n + Buffer.byteLength(fields[1]!), 0);
  expect(bytes).toBeLessThanOrEqual(65_536);
  expect(log.length).toBeGreaterThan(10);
  // (every frame here is longer than its share, 65 bytes: each is counted)
  expect(Number(await redis.get(keys.memberLogBytes("801")))).toBe(bytes);
  // short frames within their share cost no counter: the count bounds them
  const ordinary = createEventStream({ redis, keys, maxEvents: 1000, maxAgeSeconds: 60, maxBytes: 1024 * 1024 });
  for (let i = 0; i < 5; i++) await ordinary.append({ userId: "804", kind: "read", data: { i } });
  expect(await redis.exists(keys.memberLogBytes("804"))).toBe(0);
  // the newest are all there, in order
  const seqs = log.map(([id]) => Number(id.split("-")[0]));
  expect(seqs.at(-1)).toBe(60);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, k) => 61 - seqs.length + k));
  const head = await small.head("801");
  expect(await small.replayAfter("801", seqs[0]! - 1, head.epoch)).toMatchObject({ ok: true });
  expect(await small.replayAfter("801", 1, head.epoch)).toMatchObject({ ok: false, reason: "expired" });
});

test("by events, the log keeps at least the last max events", async () => {
  const counted = createEventStream({ redis, keys, maxEvents: 50, maxAgeSeconds: 60 });
  // (checked every 32nd event: the log may run that far past max events before it is trimmed)
  for (let i = 0; i < 200; i++) await counted.append({ userId: "803", kind: "message", data: { i } });
  const length = await redis.xlen(keys.memberLog("803"));
  expect(length).toBeGreaterThanOrEqual(50);
  expect(length).toBeLessThanOrEqual(50 + 32);
  expect(await counted.replayAfter("803", 150, (await counted.head("803")).epoch)).toMatchObject({ ok: true });
});

test("Redis back from a restart with older data: the same member epochs number new events with seqs clients hold, so every epoch changes and a resume past them resyncs", async () => {
  for (let i = 0; i < 5; i++) await events.append({ userId: "901", kind: "message", data: { before: i } });
  const snapshot = await Promise.all([keys.memberSeq("901"), keys.memberEpoch("901"), keys.memberLog("901")].map(async (k) => [k, await redis.dumpBuffer(k)] as const));
  for (let i = 0; i < 5; i++) await events.append({ userId: "901", kind: "message", data: { lost: i } });
  const client = await events.head("901"); // a client that got all ten: cursor 10
  expect(client.seq).toBe(10);
  // the restart: the snapshot's data comes back, and this is another Redis run
  for (const [k, v] of snapshot) await redis.restore(k, 0, v!, "REPLACE");
  await redis.set(keys.streamGenerationRun(), "a-run-before-the-restart");
  const reconnected = createRedis(process.env.REDIS_URL!, "events-test-reconnected");
  createEventStream({ redis: reconnected, keys, maxEvents: 5, maxAgeSeconds: 60 });
  for (let i = 0; i < 50 && (await redis.get(keys.streamGenerationRun())) === "a-run-before-the-restart"; i++) await Bun.sleep(20);
  reconnected.disconnect();
  // new events take the seqs 6..10 the client already holds
  for (let i = 0; i < 5; i++) await events.append({ userId: "901", kind: "message", data: { after: i } });
  expect((await events.head("901")).seq).toBe(10);
  expect(await events.replayAfter("901", 10, client.epoch)).toMatchObject({ ok: false, reason: "epoch_changed" });
  // and an ack of the old run is not stored
  await events.storeAck("901", "c1", 10, client.epoch);
  expect(await events.loadAck("901", "c1")).toBeNull();
});

test("a cursor past 0 that names no epoch resyncs (it cannot be told from one of a lost stream); from 0 it replays", async () => {
  for (let i = 0; i < 3; i++) await events.append({ userId: "950", kind: "message", data: { i } });
  expect(await events.replayAfter("950", 2, null)).toMatchObject({ ok: false, reason: "epoch_changed" });
  expect(await events.replayAfter("950", 0, null)).toMatchObject({ ok: true });
  expect(await events.replayAfter("950", 2, (await events.head("950")).epoch)).toMatchObject({ ok: true });
});
