/**
 * The api's session memo against real Postgres and Redis. Two stores stand for two api processes,
 * each with its own memo and pub/sub connection; the first one's goes through a relay that can cut
 * it. A session's Redis entry and Postgres row are ended behind the stores' backs (no announcement)
 * to show what a verify answered from the memo.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../config/index.ts";
import { createDb } from "../db/index.ts";
import { createRedis, redisKeys } from "../redis/index.ts";
import { redisRelay } from "../../../tests/harness/redis-relay.ts";
import { seedMembers } from "../../../tests/notifications/seed.ts";
import { createSessionMemo, createSessionStore, hashSessionToken, sessionRevokedChannel } from "./index.ts";

setDefaultTimeout(60_000);

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 2 });
const redis = createRedis(config.redisUrl, "test-memo");
const keys = redisKeys(`${config.redisPrefix}memo-test:`);
const channel = sessionRevokedChannel(keys);
const TTL_MS = 60_000; // longer than any test: what ends a remembered session here is an announcement
let relay: Awaited<ReturnType<typeof redisRelay>>;
const subscribers: ReturnType<typeof createRedis>[] = [];
let first: ReturnType<typeof createSessionStore>;
let second: ReturnType<typeof createSessionStore>;
let userId: string;

function storeWithMemo(subscriberUrl: string) {
  const subscriber = createRedis(subscriberUrl, "test-memo:sub", { maxRetriesPerRequest: null });
  subscribers.push(subscriber);
  const memo = createSessionMemo({ ttlMs: TTL_MS, subscriber, channel });
  return { store: createSessionStore({ sql, redis, keys, idleSeconds: 3600, absoluteSeconds: 86_400, memo }), memo };
}

beforeAll(async () => {
  relay = await redisRelay(config.redisUrl);
  const a = storeWithMemo(relay.url);
  const b = storeWithMemo(config.redisUrl);
  await Promise.all([a.memo.ready, b.memo.ready]);
  first = a.store;
  second = b.store;
  [userId] = (await seedMembers(sql, 1)) as [string];
});

afterAll(async () => {
  for (const s of subscribers) s.disconnect();
  relay?.close();
  redis.disconnect();
  await sql.end();
});

/** Ends a session without telling anyone: its Redis entry and its Postgres row. */
async function endBehindTheBack(token: string, sessionId: string): Promise<void> {
  await redis.del(keys.session(hashSessionToken(token).toString("hex")));
  await sql`update sessions set revoked_at = now() where id = ${sessionId}`;
}

const newSession = () => first.create(userId, { userAgent: "test", ip: "127.0.0.1" });

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await check()); await Bun.sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

test("a verified session is answered from the memo, not Redis, until it is announced as revoked", async () => {
  const s = await newSession();
  const expected = { sessionId: s.sessionId, userId };
  expect(await first.verify(s.token)).toEqual(expected);
  await endBehindTheBack(s.token, s.sessionId);
  expect(await first.verify(s.token)).toEqual(expected);
  await redis.publish(channel, JSON.stringify({ userId, sessionIds: [s.sessionId] }));
  await until("the announcement", async () => (await first.verify(s.token)) === null);
});

test("a logout in one process ends the session in the other's memo, and in its own before it answers", async () => {
  const s = await newSession();
  for (const store of [first, second]) expect(await store.verify(s.token)).toEqual({ sessionId: s.sessionId, userId });
  expect(await second.revokeToken(s.token)).toEqual({ sessionId: s.sessionId, userId });
  expect(await second.verify(s.token)).toBeNull();
  await until("the other process", async () => (await first.verify(s.token)) === null, 2_000);

  const all = await Promise.all([newSession(), newSession()]);
  for (const x of all) expect(await first.verify(x.token)).not.toBeNull();
  expect(await second.revokeAll(userId)).toBeGreaterThanOrEqual(2);
  await until("sign-out everywhere", async () => (await Promise.all(all.map((x) => first.verify(x.token)))).every((v) => v === null), 2_000);
});

test("while the revocations connection is down the memo answers nothing, and it forgets what it had", async () => {
  const s = await newSession();
  expect(await first.verify(s.token)).not.toBeNull();
  relay.hold(); // the resubscription will wait: the connection stays unsubscribed
  try {
    relay.cut();
    await until("the connection to drop", async () => subscribers[0]!.status !== "ready");
    await endBehindTheBack(s.token, s.sessionId);
    expect(await first.verify(s.token)).toBeNull();
  } finally {
    relay.release();
  }
  // subscribed again: a new session is remembered again, the ended one is not back
  await until("the resubscription", async () => {
    const t = await newSession();
    await first.verify(t.token);
    await endBehindTheBack(t.token, t.sessionId);
    return (await first.verify(t.token)) !== null;
  });
  expect(await first.verify(s.token)).toBeNull();
});

test("a check whose Redis read came before a revocation's announcement is answered but not remembered", async () => {
  const cmdRelay = await redisRelay(config.redisUrl);
  const command = createRedis(cmdRelay.url, "test-memo:relayed");
  const subscriber = createRedis(config.redisUrl, "test-memo:sub", { maxRetriesPerRequest: null });
  subscribers.push(subscriber);
  const memo = createSessionMemo({ ttlMs: TTL_MS, subscriber, channel });
  const third = createSessionStore({ sql, redis: command, keys, idleSeconds: 3600, absoluteSeconds: 86_400, memo });
  await memo.ready;
  // connected and past its ready check: with the replies held, a connection still starting up
  // would wait for its own handshake and never send the GETEX
  await command.ping();
  try {
    const s = await newSession();
    const announced = new Promise<void>((resolve) => subscriber.on("message", (ch: string) => ch === channel && resolve()));
    const getexes = cmdRelay.count("$5\r\ngetex\r\n");
    cmdRelay.holdReplies();
    const checking = third.verify(s.token);
    await until("the check's GETEX", async () => cmdRelay.count("$5\r\ngetex\r\n") > getexes);
    // Redis has answered (held on the way back) when the session is revoked and announced
    await second.revokeToken(s.token);
    await announced;
    cmdRelay.releaseReplies();
    expect(await checking).toEqual({ sessionId: s.sessionId, userId });
    expect(await third.verify(s.token)).toBeNull();
  } finally {
    cmdRelay.releaseReplies();
    command.disconnect();
    cmdRelay.close();
  }
});
