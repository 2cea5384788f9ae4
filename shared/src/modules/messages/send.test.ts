/** The message write path's repeat handling against real Postgres and Redis. */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createEventStream } from "../events/index.ts";
import { createPresence } from "../presence/index.ts";
import { redisRelay } from "../../../../tests/harness/redis-relay.ts";
import { createConversation } from "./conversations.ts";
import { sendMessage } from "./send.ts";
import type { MessagingDeps, SentAnswer } from "./types.ts";

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

test("a repeat announced again after the peer shut the conversation (contact setting) reaches the sender only", async () => {
  const { a, b, conv } = await pair();
  const input = { id: crypto.randomUUID(), conversationId: conv, body: "remember me" };
  const first = await sendMessage(deps, a, input);
  await sql`insert into contact_policies (user_id, conversations) values (${b}, 'following')`;
  await expect(sendMessage(deps, a, { id: crypto.randomUUID(), conversationId: conv, body: "new" })).rejects.toMatchObject({ code: "not_accepting" });
  await redis.del(keys.sendDedup(a, input.id));
  const again = await sendMessage(deps, a, input);
  expect(again.answer.messageId).toBe(first.answer.messageId);
  expect((await messageEvents(b)).map((e) => e.data.messageId)).toEqual([first.answer.messageId]);
  expect((await messageEvents(a)).map((e) => e.data.messageId)).toEqual([first.answer.messageId, first.answer.messageId]);
});

/**
 * Deps whose event appends go through a relay (replies or commands held on cue) on a connection
 * with a 300 ms command timeout, and that record every "you have a message" call; `fine`: the
 * same recording, Redis direct.
 */
async function lossyAnnouncements(name: string, extra: { maxRetriesPerRequest?: number } = {}) {
  const relay = await redisRelay(config.redisUrl);
  const slow = createRedis(relay.url, name, { commandTimeout: 300, ...extra });
  const notified: string[][] = [];
  const onOfflineRecipients = async (ids: string[]) => void notified.push(ids);
  await slow.ping();
  return {
    relay,
    notified,
    lossy: { ...deps, events: createEventStream({ redis: slow, keys, maxEvents: 1000, maxAgeSeconds: 3600 }), onOfflineRecipients } as MessagingDeps,
    fine: { ...deps, onOfflineRecipients } as MessagingDeps,
    close: () => (slow.disconnect(), relay.close()),
  };
}

test("an announcement whose reply was lost but which Redis ran late still notifies the offline member, once, resent or not", async () => {
  const { a, b, conv } = await pair();
  const { relay, notified, lossy: late, fine, close } = await lossyAnnouncements("test-messages:slow");
  try {
    const input = { id: crypto.randomUUID(), conversationId: conv, body: "late" };
    relay.holdReplies();
    await expect(sendMessage(late, a, input)).rejects.toThrow();
    relay.releaseReplies();
    for (let i = 0; i < 50 && notified.length === 0; i++) await Bun.sleep(100);
    expect(notified).toEqual([[b]]);
    // the client's resend finds the late answer: the same message, nobody notified again
    const again = await sendMessage(fine, a, input);
    expect(again.duplicate).toBe(true);
    await Bun.sleep(1_500);
    expect(notified).toEqual([[b]]);
  } finally {
    close();
  }
});

test("an announcement that never reached Redis: the resend announces and notifies, and the watch on the lost reply does not notify again", async () => {
  const { a, b, conv } = await pair();
  const { relay, notified, lossy: lost, fine, close } = await lossyAnnouncements("test-messages:lost", { maxRetriesPerRequest: 0 });
  try {
    const input = { id: crypto.randomUUID(), conversationId: conv, body: "never arrived" };
    relay.hold();
    await expect(sendMessage(lost, a, input)).rejects.toThrow();
    // what was held back is dropped with the connection: the script never runs
    relay.cut();
    const again = await sendMessage(fine, a, input);
    expect(again.duplicate).toBe(true);
    await Bun.sleep(2_500);
    expect(notified).toEqual([[b]]);
  } finally {
    close();
  }
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

// Rolling deploy: replicas of the previous version claimed the dedup key with the string `pending`
// (SET NX, 15 s) before their write, and a new replica may get the client's resend meanwhile.
describe("a dedup key left at `pending` by a previous version", () => {
  const LEGACY_PENDING_TTL_MS = 15_000;

  /** A pair, and deps that record every "you have a message" call for offline recipients. */
  async function pairTrackingOffline() {
    const p = await pair();
    const offline: string[][] = [];
    const tracked: MessagingDeps = { ...deps, onOfflineRecipients: async (ids) => void offline.push(ids) };
    return { ...p, tracked, offline };
  }

  /** A send whose id an old replica claimed (`pending`, as it did before writing). */
  async function claimedByPreviousVersion(senderId: string, conversationId: string, body: string) {
    const input = { id: crypto.randomUUID(), conversationId, body };
    await redis.set(keys.sendDedup(senderId, input.id), "pending", "PX", LEGACY_PENDING_TTL_MS);
    return input;
  }

  async function expectAnnouncedOnce(a: string, b: string, conv: string, input: { id: string }, answers: SentAnswer[]) {
    const [row] = await sql<{ n: number; id: string }[]>`
      select count(*)::int as n, min(id)::text as id from messages where conversation_id = ${conv} and client_msg_id = ${input.id}`;
    expect(row!.n).toBe(1);
    const own = await messageEvents(a);
    const theirs = await messageEvents(b);
    expect(own.map((e) => e.data.messageId)).toEqual([row!.id]);
    expect(theirs.map((e) => e.data.messageId)).toEqual([row!.id]);
    for (const answer of answers) {
      expect(answer).toEqual({ id: input.id, messageId: row!.id, conversationId: conv, ts: expect.any(Number), seq: own[0]!.seq });
      expect(answer).toEqual(answers[0]!);
    }
    // the placeholder is replaced by the answer, kept as long as any answer
    const key = keys.sendDedup(a, input.id);
    expect(JSON.parse((await redis.get(key))!)).toEqual(answers[0]);
    expect(await redis.ttl(key)).toBeGreaterThan(LEGACY_PENDING_TTL_MS / 1000);
  }

  test("no row yet (the old attempt died before its write): written once, announced once, answered with its seq", async () => {
    const { a, b, conv, tracked, offline } = await pairTrackingOffline();
    const input = await claimedByPreviousVersion(a, conv, "after pending");
    const first = await sendMessage(tracked, a, input);
    const repeat = await sendMessage(tracked, a, input);
    expect(first.duplicate).toBe(false);
    expect(repeat.duplicate).toBe(true);
    await expectAnnouncedOnce(a, b, conv, input, [first.answer, repeat.answer]);
    expect(offline).toEqual([[b]]);
  });

  test("the row is there (the old attempt died after its write): announced once from the row, answered with its seq", async () => {
    const { a, b, conv, tracked, offline } = await pairTrackingOffline();
    const input = await claimedByPreviousVersion(a, conv, "written by the old version");
    await sql`insert into messages (conversation_id, sender_id, client_msg_id, body) values (${conv}, ${a}, ${input.id}, ${input.body})`;
    // the resend and a repeat of it arrive together (the row is young: both first wait for an answer)
    const [first, repeat] = await Promise.all([sendMessage(tracked, a, input), sendMessage(tracked, a, input)]);
    const again = await sendMessage(tracked, a, input);
    expect([first.duplicate, repeat.duplicate, again.duplicate]).toEqual([true, true, true]);
    await expectAnnouncedOnce(a, b, conv, input, [first.answer, repeat.answer, again.answer]);
    expect(offline).toEqual([[b]]);
  });

  test("a message announced again after its answer expired notifies nobody again (its first announcement did)", async () => {
    const { b, conv, tracked, offline, a } = await pairTrackingOffline();
    const input = { id: crypto.randomUUID(), conversationId: conv, body: "answered long ago" };
    expect((await sendMessage(tracked, a, input)).duplicate).toBe(false);
    expect(offline).toEqual([[b]]);
    // the answer's time is up, and the row is older than that
    await redis.del(keys.sendDedup(a, input.id));
    await sql`update messages set created_at = now() - interval '1 hour' where conversation_id = ${conv} and client_msg_id = ${input.id}`;
    expect((await sendMessage(tracked, a, input)).duplicate).toBe(true);
    expect(offline).toEqual([[b]]);
  });
});

// Rolling deploy: replicas of the previous version mark presence only in `presence:<member>` (no
// `online:<member>`), so new code takes a member whose only client is on such a replica for
// offline. That costs an extra "you have a message" notification; the message itself is appended,
// published on the channel the old replica listens to, and replayable like any other.
test("a recipient whose only client is on a previous-version replica gets the message once, live and replayable", async () => {
  const { a, b, conv } = await pair();
  const oldReplica = createRedis(config.redisUrl, "test-messages-old-replica");
  try {
    // what the previous version did when b's socket said hello there: HSET + EXPIRE, then SUBSCRIBE
    await oldReplica.multi().hset(keys.presence(b), "chat-old", Math.floor(Date.now() / 1000) + 90).expire(keys.presence(b), 90).exec();
    const live: string[] = [];
    oldReplica.on("message", (_channel: string, message: string) => void live.push(message));
    await oldReplica.subscribe(keys.memberChannel(b));

    const offline: string[][] = [];
    const tracked: MessagingDeps = { ...deps, onOfflineRecipients: async (ids) => void offline.push(ids) };
    const input = { id: crypto.randomUUID(), conversationId: conv, body: "during the deploy" };
    const first = await sendMessage(tracked, a, input);
    const repeat = await sendMessage(tracked, a, input);
    expect(repeat.answer).toEqual(first.answer);

    const replay = await events.replayAfter(b, 0, null);
    if (!replay.ok) throw new Error(replay.reason);
    const messages = replay.frames.filter((f) => JSON.parse(f).kind === "message");
    expect(messages).toHaveLength(1);
    expect(JSON.parse(messages[0]!).data.messageId).toBe(first.answer.messageId);
    for (let i = 0; i < 100 && live.length === 0; i++) await Bun.sleep(20);
    await Bun.sleep(100);
    expect(live).toEqual(messages);
    // taken for offline: one extra "you have a message" notification, nothing more
    expect(offline).toEqual([[b]]);

    // once b's client is on a new replica (it writes the online key), b counts as online again
    await createPresence({ redis, keys }).connected(b, "chat-new");
    await sendMessage(tracked, a, { id: crypto.randomUUID(), conversationId: conv, body: "after the reconnect" });
    expect(offline).toEqual([[b]]);
    expect(await messageEvents(b)).toHaveLength(2);
  } finally {
    oldReplica.disconnect();
  }
});

test("a send's answer is kept for the configured time (CHAT_SEND_ANSWER_TTL_SECONDS), 10 minutes by default", async () => {
  const { a, conv } = await pair();
  const short = { id: crypto.randomUUID(), conversationId: conv, body: "short" };
  await sendMessage({ ...deps, answerTtlSeconds: 120 }, a, short);
  const shortTtl = await redis.ttl(keys.sendDedup(a, short.id));
  expect(shortTtl).toBeGreaterThan(100);
  expect(shortTtl).toBeLessThanOrEqual(120);
  const usual = { id: crypto.randomUUID(), conversationId: conv, body: "usual" };
  await sendMessage(deps, a, usual);
  const usualTtl = await redis.ttl(keys.sendDedup(a, usual.id));
  expect(usualTtl).toBeGreaterThan(500);
  expect(usualTtl).toBeLessThanOrEqual(600);
});

test("a first send costs one Redis command: the script that appends every participant's event and stores the answer", async () => {
  const { a, conv } = await pair();
  // loads the script and caches the membership, as any earlier send on a replica would have
  await sendMessage(deps, a, { id: crypto.randomUUID(), conversationId: conv, body: "warm" });
  const monitor = await createRedis(config.redisUrl, "test-monitor").monitor();
  const commands: string[] = [];
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    // commands a script runs show up with source "lua": only the client's own are counted
    if (source !== "lua" && args.some((arg) => arg.includes(keys.prefix))) commands.push(args[0]!.toLowerCase());
  });
  try {
    await Bun.sleep(50);
    await sendMessage(deps, a, { id: crypto.randomUUID(), conversationId: conv, body: "counted" });
    await Bun.sleep(100);
  } finally {
    monitor.disconnect();
  }
  expect(commands).toEqual(["evalsha"]);
});

test("sends committed in one Postgres batch share one Redis command, and each gets its own answer and seq", async () => {
  const { a, b, conv } = await pair();
  await sendMessage(deps, a, { id: crypto.randomUUID(), conversationId: conv, body: "warm" });
  const monitor = await createRedis(config.redisUrl, "test-monitor-batch").monitor();
  const commands: string[] = [];
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (source !== "lua" && args.some((arg) => arg.includes(keys.prefix))) commands.push(args[0]!.toLowerCase());
  });
  let results: Awaited<ReturnType<typeof sendMessage>>[];
  try {
    await Bun.sleep(50);
    // the first send starts a batch alone; the nine sent meanwhile wait for the next one, together
    results = await Promise.all(Array.from({ length: 10 }, (_, i) => sendMessage(deps, a, { id: crypto.randomUUID(), conversationId: conv, body: `batched ${i}` })));
    await Bun.sleep(100);
  } finally {
    monitor.disconnect();
  }
  expect(commands.filter((c) => c === "evalsha").length).toBeLessThanOrEqual(3);
  expect(commands.every((c) => c === "evalsha")).toBe(true);
  const seqs = results.map((r) => r.answer.seq);
  expect(new Set(seqs).size).toBe(10);
  for (const r of results) expect(JSON.parse(r.ownEvent!)).toMatchObject({ type: "event", seq: r.answer.seq, data: { messageId: r.answer.messageId } });
  const partner = await messageEvents(b);
  expect(partner.map((e) => e.data.messageId).slice(-10).sort()).toEqual(results.map((r) => r.answer.messageId).sort());
});

test("a member no longer in the group cannot write there, whatever a membership cache still holds", async () => {
  const [a, b, c] = (await seedMembers(sql, 3)) as [string, string, string];
  const group = await createConversation(deps, a, [b, c], "crew");
  await sendMessage(deps, b, { id: crypto.randomUUID(), conversationId: group.id, body: "in" });
  // b is out in Postgres; this process' cache has not heard (the announcement is still on its way)
  await sql`delete from conversation_members where conversation_id = ${group.id} and user_id = ${b}`;
  const late = await sendMessage(deps, b, { id: crypto.randomUUID(), conversationId: group.id, body: "after leaving" }).then(
    () => null,
    (err: { status?: number; code?: string }) => ({ status: err.status, code: err.code }),
  );
  expect(late).toEqual({ status: 403, code: "not_member" });
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${group.id} and body = 'after leaving'`;
  expect(row!.n).toBe(0);
});
