/**
 * The unread badge against a write in flight (real Postgres and Redis): a badge rebuilt from
 * Postgres while a write is between its commit and its counter update must not be cached, or the
 * count is off by one for the counter's lifetime (7 days). The rebuild that lands between is held
 * with a table lock (its count) and a Redis relay (its store).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { redisRelay } from "../../../../tests/harness/redis-relay.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createUnreadCounter } from "./unread.ts";

setDefaultTimeout(60_000);

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 4 });
const redis = createRedis(config.redisUrl, "test-unread");
const keys = redisKeys(config.redisPrefix);
const unread = createUnreadCounter({ sql, redis, keys });
let relay: Awaited<ReturnType<typeof redisRelay>>;
let relayed: ReturnType<typeof createRedis>;
let members: string[];

beforeAll(async () => {
  relay = await redisRelay(config.redisUrl);
  relayed = createRedis(relay.url, "test-unread:relayed");
  members = await seedMembers(sql, 6);
});

afterAll(async () => {
  relay?.release();
  relayed?.disconnect();
  relay?.close();
  redis.disconnect();
  await sql.end();
});

async function unreadRow(userId: string): Promise<void> {
  await sql`insert into notifications (user_id, type, dedupe_key, created_at) values (${userId}, 'post', ${`unread-test:${crypto.randomUUID()}`}, now())`;
}

const cached = async (userId: string) => redis.get(keys.unread(userId));

test("a badge rebuilt after a write's commit but before its counter update is not cached, so the update cannot count the row twice", async () => {
  const me = members[0]!;
  const write = await unread.fence([me]);
  await unreadRow(me); // committed; the writer has not adjusted the counter yet
  expect(await unread.getOne(me)).toBe(1); // the right count, from Postgres…
  expect(await cached(me)).toBeNull(); // …not cached: the write would add its row again
  expect(await write.settle([{ userId: me, delta: 1 }])).toEqual([null]);
  expect(await unread.getOne(me)).toBe(1);
  expect(await cached(me)).toBe("1");
});

test("a badge counted before a write's commit and stored after its counter update is not cached, so the row is not missed", async () => {
  const me = members[1]!;
  const slowReader = createUnreadCounter({ sql, redis: relayed, keys });
  await relayed.ping();
  const lock = sql.reserve();
  const locker = await lock;
  await locker`begin`;
  await locker`lock table notifications in access exclusive mode`;
  const rebuilding = slowReader.rebuild([me]); // its snapshot passes, its count waits for the lock
  await waitUntil(async () => (await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%read_at is null%'`)[0]!.n > 0);
  relay.hold(); // the store that follows the count waits here
  await locker`commit`;
  locker.release();
  await Bun.sleep(200); // the count ran (0: the write below is not committed yet)

  const write = await unread.fence([me]);
  await unreadRow(me);
  expect(await write.settle([{ userId: me, delta: 1 }])).toEqual([null]); // no counter to adjust
  relay.release();
  expect(await rebuilding).toEqual([0]);
  expect(await cached(me)).toBeNull(); // 0 would hide the row for the counter's lifetime
  expect(await unread.getOne(me)).toBe(1);
});

test("with no write in flight a rebuilt badge is cached; a fence its writer never lifted lapses", async () => {
  const [me, other] = [members[2]!, members[3]!];
  await unreadRow(me);
  expect(await unread.getOne(me)).toBe(1);
  expect(await cached(me)).toBe("1");

  const shortFences = createUnreadCounter({ sql, redis, keys, fenceMs: 300 });
  await shortFences.fence([other]); // the writer dies before settling
  await unreadRow(other);
  expect(await unread.getOne(other)).toBe(1);
  expect(await cached(other)).toBeNull();
  await Bun.sleep(400);
  expect(await unread.getOne(other)).toBe(1);
  expect(await cached(other)).toBe("1");
});

test("marking read under a fence moves a cached badge by the rows it changed", async () => {
  const me = members[4]!;
  await unreadRow(me);
  await unreadRow(me);
  expect(await unread.getOne(me)).toBe(2);
  const write = await unread.fence([me]);
  await sql`update notifications set read_at = now() where user_id = ${me}`;
  expect(await write.settle([{ userId: me, delta: -2 }])).toEqual([0]);
  expect(await unread.getOne(me)).toBe(0);
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("timed out");
    await Bun.sleep(20);
  }
}

test("Redis back from a restart with older counters: every counter is dropped once for the new run and rebuilt from Postgres", async () => {
  const [member] = (await seedMembers(sql, 1)) as [string];
  await unreadRow(member);
  expect(await unread.getOne(member)).toBe(1);
  // the restart brought back a counter from before the last writes, and this is another Redis run
  await redis.set(keys.unread(member), "7");
  await redis.set(keys.unreadRun(), "a-run-before-the-restart");
  const reconnected = createRedis(config.redisUrl, "test-unread:reconnected");
  createUnreadCounter({ sql, redis: reconnected, keys });
  for (let i = 0; i < 50 && (await redis.get(keys.unreadRun())) === "a-run-before-the-restart"; i++) await Bun.sleep(20);
  for (let i = 0; i < 50 && (await redis.exists(keys.unread(member))) === 1; i++) await Bun.sleep(20);
  reconnected.disconnect();
  expect(await unread.getOne(member)).toBe(1);
});

test("the first run recorded (a new prefix, or Redis without the key) drops nothing: it would only race the first writes", async () => {
  const [member] = (await seedMembers(sql, 1)) as [string];
  await unreadRow(member);
  expect(await unread.getOne(member)).toBe(1);
  await redis.del(keys.unreadRun());
  const first = createRedis(config.redisUrl, "test-unread:first");
  createUnreadCounter({ sql, redis: first, keys });
  for (let i = 0; i < 100 && (await redis.exists(keys.unreadRun())) === 0; i++) await Bun.sleep(20);
  // (a drop would follow the claim at once: give it the time it took above)
  await Bun.sleep(200);
  first.disconnect();
  expect(await redis.get(keys.unread(member))).toBe("1");
});
