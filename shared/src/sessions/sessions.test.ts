/** The session store's bulk check against real Postgres and Redis. */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../config/index.ts";
import { createDb } from "../db/index.ts";
import { createRedis, redisKeys } from "../redis/index.ts";
import { redisRelay } from "../../../tests/harness/redis-relay.ts";
import { seedMembers } from "../../../tests/notifications/seed.ts";
import { createSessionStore, hashSessionToken, newSessionToken } from "./index.ts";

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 2 });
const redis = createRedis(config.redisUrl, "test-sessions");
const keys = redisKeys(`${config.redisPrefix}sessions-test:`);
const store = createSessionStore({ sql, redis, keys, idleSeconds: 3600, absoluteSeconds: 86_400 });
// a second process (another api, a chat replica) whose Redis commands can be held on the way
const relay = await redisRelay(config.redisUrl);
const relayed = createRedis(relay.url, "test-sessions-relayed");
const otherSql = createDb(config.databaseUrl, { max: 2 });
const other = createSessionStore({ sql: otherSql, redis: relayed, keys, idleSeconds: 3600, absoluteSeconds: 86_400 });
const lockSql = createDb(config.databaseUrl, { max: 1 });
afterAll(async () => {
  await Promise.all([otherSql.end(), lockSql.end()]);
  relayed.disconnect();
  relay.close();
  redis.disconnect();
  await sql.end();
});

const cacheKey = (token: string) => keys.session(hashSessionToken(token).toString("hex"));

test("verifyMany: every open socket's session in bulk — live ones touched in one statement, ended ones null, lost cache entries refilled from Postgres", async () => {
  const [userId] = (await seedMembers(sql, 1)) as [string];
  const made = await Promise.all(Array.from({ length: 300 }, () => store.create(userId, { userAgent: "test", ip: "127.0.0.1" })));
  const tokens = made.map((m) => m.token);
  // last_seen_at written 2 minutes ago as far as the cache knows: every live one is due a touch
  for (const token of tokens) {
    const entry = JSON.parse((await redis.get(cacheKey(token)))!);
    await redis.set(cacheKey(token), JSON.stringify({ ...entry, seen: Date.now() - 120_000 }), "PX", 3_600_000);
  }
  await store.revokeToken(tokens[0]);
  await store.revokeToken(tokens[1]);
  // Redis lost these (a restart): Postgres answers for them
  const lost = tokens.slice(2, 7);
  await redis.del(...lost.map(cacheKey));
  await sql`update sessions set last_seen_at = now() - interval '1 day' where id = ${made[299]!.sessionId}`;
  await redis.del(cacheKey(tokens[299]!)); // … and this one has been idle past the idle timeout

  const asked = [...tokens, "not a token", newSessionToken()];
  const sessions = await store.verifyMany(asked);

  expect(sessions.slice(0, 2)).toEqual([null, null]);
  expect(sessions.slice(2, 299)).toEqual(made.slice(2, 299).map((m) => ({ sessionId: m.sessionId, userId })));
  expect(sessions.slice(299)).toEqual([null, null, null]);
  for (const token of lost) expect(await redis.exists(cacheKey(token))).toBe(1);
  // one UPDATE for all the touched ones: now() is the statement's transaction time, the same for every row
  const touched = await sql<{ n: number }[]>`
    select count(distinct last_seen_at)::int as n from sessions where id = any(${made.slice(7, 299).map((m) => m.sessionId)}::bigint[])`;
  expect(touched[0]!.n).toBe(1);
  const entry = JSON.parse((await redis.get(cacheKey(tokens[10]!)))!);
  expect(Date.now() - entry.seen).toBeLessThan(10_000);
  // and the single check agrees
  expect(await store.verify(tokens[10])).toEqual({ sessionId: made[10]!.sessionId, userId });
  expect(await store.verify(tokens[0])).toBeNull();
});

/**
 * A check that read a session (from Redis with its touch due, or from Postgres) just before the
 * session was revoked, and writes it to Redis just after: the write must not bring it back.
 */
for (const path of ["touch of a cached session", "refill of a session Redis lost"] as const) {
  test(`a sign-out racing another process' ${path} stays signed out`, async () => {
    const [userId] = (await seedMembers(sql, 1)) as [string];
    const made = await store.create(userId, { userAgent: "test", ip: "127.0.0.1" });
    if (path === "touch of a cached session") {
      const entry = JSON.parse((await redis.get(cacheKey(made.token)))!);
      await redis.set(cacheKey(made.token), JSON.stringify({ ...entry, seen: 0 }), "PX", 3_600_000);
    } else {
      await redis.del(cacheKey(made.token));
    }
    // the other process' Postgres statement waits behind a lock on the session row…
    const locker = await lockSql.reserve();
    await locker`begin`;
    await locker`select 1 from sessions where id = ${made.sessionId} for update`;
    const checking = other.verify(made.token);
    for (let i = 0; i < 500; i++) {
      const [w] = await sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where wait_event_type = 'Lock' and query ilike '%update sessions set last_seen_at%'`;
      if (w!.n > 0) break;
      await Bun.sleep(10);
    }
    // …then runs while its Redis write is held back, and the sign-out happens before that write lands
    relay.hold();
    await locker`rollback`;
    locker.release();
    await Bun.sleep(200);
    expect(await store.revokeToken(made.token)).toEqual({ sessionId: made.sessionId, userId });
    relay.release();
    await checking;

    expect(await redis.exists(cacheKey(made.token))).toBe(0);
    expect(await store.verify(made.token)).toBeNull();
    expect(await other.verify(made.token)).toBeNull();
  });
}
