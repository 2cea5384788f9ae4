/**
 * The cached first page against real Postgres and Redis. Rows inserted straight into Postgres
 * (no write path, so nothing is forgotten) show what a read served from the cache; the reads'
 * Redis connection goes through a relay that can hold its commands, and a table lock holds its
 * query, so a write can be made to land between a read's query and its fill.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createEventStream } from "../events/index.ts";
import { createPresence } from "../presence/index.ts";
import { redisRelay } from "../../../../tests/harness/redis-relay.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createRecentNotifications } from "./recent.ts";
import { createUnreadCounter } from "./unread.ts";
import { bucketStart, writeNotification } from "./write.ts";
import { runBatches } from "./batches.ts";

setDefaultTimeout(60_000);

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 4 });
const redis = createRedis(config.redisUrl, "test-recent");
const keys = redisKeys(`${config.redisPrefix}recent-test:`);
let relay: Awaited<ReturnType<typeof redisRelay>>;
let relayed: ReturnType<typeof createRedis>;
let recent: ReturnType<typeof createRecentNotifications>;
let members: string[];

beforeAll(async () => {
  relay = await redisRelay(config.redisUrl);
  relayed = createRedis(relay.url, "test-recent:relayed");
  recent = createRecentNotifications({ sql, redis: relayed, keys });
  members = await seedMembers(sql, 6);
});

afterAll(async () => {
  relay?.release();
  relayed?.disconnect();
  relay?.close();
  redis.disconnect();
  await sql.end();
});

/** A follow row written straight into Postgres, as no write path would leave it. */
async function rowBehindTheCache(userId: string, actorId: string): Promise<string> {
  const [r] = await sql<{ id: string }[]>`
    insert into notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at)
    values (${userId}, 'follow', ${actorId}, ${userId}, ${`recent-test:${crypto.randomUUID()}`}, now())
    returning id`;
  return r!.id;
}

/** A piece of the fill script's text, as it crosses the relay. */
const FILL_MARKER = "'PX', ARGV[3]";

const ids = async (userId: string, limit = 20) => (await recent.read(userId, limit)).page.rows.map((r) => r.id);

test("a second read is served from Redis; forgetting the member's page reads Postgres again", async () => {
  const [me, fan] = members as [string, string];
  const first = await rowBehindTheCache(me, fan);
  expect(await ids(me)).toEqual([first]);
  const second = await rowBehindTheCache(me, fan);
  expect(await ids(me)).toEqual([first]);
  await recent.forget([me]);
  expect(await ids(me)).toEqual([second, first]);
});

test("pages of any size up to the cached rows, newest first, and whether more follow", async () => {
  const [, , me, fan] = members as [string, string, string, string];
  const written: string[] = [];
  for (let i = 0; i < 55; i++) written.unshift(await rowBehindTheCache(me, fan));
  const three = await recent.read(me, 3);
  expect(three.page.rows.map((r) => r.id)).toEqual(written.slice(0, 3));
  expect(three.page.more).toBe(true);
  const fifty = await recent.read(me, 50);
  expect(fifty.page.rows.map((r) => r.id)).toEqual(written.slice(0, 50));
  expect(fifty.page.more).toBe(true);
  expect(fifty.page.rows[0]).toMatchObject({ userId: me, type: "follow", actorId: fan, subjectId: me, count: 1, readAt: null });
  expect(fifty.page.rows[0]!.createdAt).toBeInstanceOf(Date);
  await expect(recent.read(me, 51)).rejects.toThrow(RangeError);
});

test("a notification written through the write path shows on the next read, with the unread count read in the same command", async () => {
  const [, , , , me, fan] = members as [string, string, string, string, string, string];
  const unread = createUnreadCounter({ sql, redis, keys });
  const deps = { sql, redis, keys, unread, events: createEventStream({ redis, keys, maxEvents: 100, maxAgeSeconds: 3600 }), presence: createPresence({ redis, keys }), groupWindowSeconds: 3600 };
  expect(await ids(me)).toEqual([]);
  await unread.getOne(me); // cached, as a chat replica leaves it for an online member
  const at = bucketStart(Date.now(), 3600).getTime() + 1000;
  expect((await writeNotification(deps, { recipientId: me, type: "follow", actorId: fan, subjectId: me, dedupeKey: `follow:${fan}`, occurredAt: at })).result).toBe("written");
  const after = await recent.read(me, 20);
  expect(after.page.rows.map((r) => r.actorId)).toEqual([fan]);
  expect(after.unread).toBe(1);
});

test("a retried job that finds its row already written (its first attempt failed before delivering) forgets the page", async () => {
  const [, me, fan] = members as [string, string, string];
  const unread = createUnreadCounter({ sql, redis, keys });
  const deps = { sql, redis, keys, unread, events: createEventStream({ redis, keys, maxEvents: 100, maxAgeSeconds: 3600 }), presence: createPresence({ redis, keys }), groupWindowSeconds: 3600 };
  const cached = await ids(me);
  const job = { recipientId: me, type: "post" as const, actorId: fan, subjectId: "7", dedupeKey: `post:${crypto.randomUUID()}`, occurredAt: Date.now() };
  // the first attempt's row, committed; its delivery never ran
  await sql`
    insert into notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at)
    values (${me}, 'post', ${fan}, 7, ${job.dedupeKey}, ${new Date(job.occurredAt)})`;
  expect(await ids(me)).toEqual(cached);
  expect((await writeNotification(deps, job)).result).toBe("duplicate");
  expect((await ids(me)).length).toBe(cached.length + 1);
});

test("a resumed fan-out page whose row an earlier attempt wrote (and did not deliver) forgets the page", async () => {
  const [, , , , , me] = members as [string, string, string, string, string, string];
  const unread = createUnreadCounter({ sql, redis, keys });
  const deps = { sql, redis, keys, unread, events: createEventStream({ redis, keys, maxEvents: 100, maxAgeSeconds: 3600 }), presence: createPresence({ redis, keys }) };
  const cached = await ids(me);
  const template = {
    type: "post" as const, actorId: null, subjectId: "9", dedupeKey: `post:${crypto.randomUUID()}`, occurredAt: new Date(),
    view: { type: "post" as const, actor: null, actors: [], subjectId: "9", count: 1, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), read: false },
  };
  // the earlier attempt's row, committed before it stopped
  await sql`
    insert into notifications (user_id, type, subject_id, dedupe_key, created_at)
    values (${me}, 'post', 9, ${template.dedupeKey}, ${template.occurredAt})`;
  expect(await ids(me)).toEqual(cached);
  const source = async (after: string | null) => (after === null ? { ids: [me], cursor: me } : { ids: [], cursor: null });
  const outcome = await runBatches(deps, { source, template, batchSize: 10, from: { cursor: null, written: 0, scanned: 0 }, checkpoint: async () => {} });
  expect(outcome.written).toBe(1); // the member has the job's row (the earlier attempt wrote it)
  expect((await ids(me)).length).toBe(cached.length + 1);
});

test("reads that miss together leave one stored page, and later reads are served from it", async () => {
  const [, , , me, fan] = members as [string, string, string, string, string];
  await recent.forget([me]);
  const pages = await Promise.all(Array.from({ length: 8 }, () => ids(me)));
  for (const p of pages) expect(p).toEqual(pages[0]!);
  await until("a stored page", async () => (await redis.get(keys.recentNotifications(me)))?.startsWith("{") === true);
  await rowBehindTheCache(me, fan);
  expect(await ids(me)).toEqual(pages[0]!);
});

test("a read whose query ran before a write committed does not store its page once the write has forgotten it", async () => {
  const [me, fan] = members as [string, string];
  await recent.forget([me]);
  const before = await ids(me);
  await recent.forget([me]);

  // The read's query waits on a table lock; meanwhile its Redis connection is held, so its fill
  // reaches Redis only after the write below has committed and forgotten the page.
  const lock = sql.reserve();
  const conn = await lock;
  await conn`begin`;
  await conn`lock table notifications in access exclusive mode`;
  const reading = recent.read(me, 20);
  await until("the read's loading mark", async () => (await redis.get(keys.recentNotifications(me)))?.startsWith("loading:") === true);
  relay.hold();
  const fills = relay.count(FILL_MARKER);
  await conn`commit`;
  conn.release();
  await until("the read's fill, held by the relay", async () => relay.count(FILL_MARKER) > fills);
  const written = await rowBehindTheCache(me, fan);
  await createRecentNotifications({ sql, redis, keys }).forget([me]);
  relay.release();
  const stale = await reading;
  expect(stale.page.rows.map((r) => r.id)).toEqual(before);
  expect(await ids(me)).toEqual([written, ...before]);
});

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await check()); await Bun.sleep(10)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}
