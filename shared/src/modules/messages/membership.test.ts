/** The send path's membership cache against real Postgres: stale entries answer while one query refreshes them. */
import { afterAll, afterEach, expect, setSystemTime, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb, type Sql } from "../../db/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createEventStream } from "../events/index.ts";
import { createConversation } from "./conversations.ts";
import { conversationInfo } from "./membership.ts";
import type { MessagingDeps } from "./types.ts";

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 4 });
const redis = createRedis(config.redisUrl, "test-membership");
const keys = redisKeys(`${config.redisPrefix}membership-test:`);
let queries = 0;
/** The same connection pool, counting the statements the cache sends. */
const counted = Object.assign((strings: TemplateStringsArray, ...values: unknown[]) => (queries++, sql(strings, ...(values as never[]))), sql) as unknown as Sql;
const deps: MessagingDeps = { sql: counted, redis, keys, events: createEventStream({ redis, keys, maxEvents: 10, maxAgeSeconds: 60 }), maxBodyChars: 4000 };

afterEach(() => void setSystemTime());
afterAll(async () => {
  redis.disconnect();
  await sql.end();
});

test("conversations loaded together and expired together cost one query each, and no send waits for it", async () => {
  const members = await seedMembers(sql, 20);
  const convs: string[] = [];
  for (let i = 0; i < 20; i += 2) convs.push((await createConversation({ ...deps, sql }, members[i]!, [members[i + 1]!])).id);
  const everySend = () => Promise.all(convs.flatMap((id, k) => Array.from({ length: 5 }, () => conversationInfo(deps, id, members[k * 2]!))));

  queries = 0;
  const first = await everySend();
  expect(first.every((info) => info?.members.length === 2)).toBe(true);
  expect(queries).toBe(convs.length); // concurrent misses for one conversation share its query

  setSystemTime(new Date(Date.now() + 61_000));
  // a member added before the refresh: the refreshed entry must have them
  const [late] = (await seedMembers(sql, 1)) as [string];
  await sql`insert into conversation_members (conversation_id, user_id) values (${convs[0]!}, ${late})`;
  queries = 0;
  const calls = everySend();
  let settled = false;
  void calls.then(() => (settled = true));
  // answered from the expired entries without waiting for Postgres (settled within microtasks)
  await new Promise((resolve) => setImmediate(resolve));
  expect(settled).toBe(true);
  expect((await calls).every((info) => info?.members.length === 2)).toBe(true);
  expect(queries).toBe(convs.length);
  await Bun.sleep(100);
  queries = 0;
  await everySend();
  expect(queries).toBe(0); // refreshed
  expect((await conversationInfo(deps, convs[0]!, members[0]!))?.members).toContain(late);
  expect(queries).toBe(0);
});

test("a member missing from the cached list is looked up, and a stranger is refused", async () => {
  const [a, b, c, stranger] = (await seedMembers(sql, 4)) as [string, string, string, string];
  const conv = (await createConversation({ ...deps, sql }, a, [b])).id;
  expect((await conversationInfo(deps, conv, a))?.members.sort()).toEqual([a, b].sort());
  await sql`insert into conversation_members (conversation_id, user_id) values (${conv}, ${c})`;
  expect((await conversationInfo(deps, conv, c))?.members.sort()).toEqual([a, b, c].sort());
  expect(await conversationInfo(deps, conv, stranger)).toBeNull();
  expect(await conversationInfo(deps, "999999999999", a)).toBeNull();
});

test("a member asking again and again about a conversation they are not in, or one that does not exist, costs one query", async () => {
  const [a, b, stranger] = (await seedMembers(sql, 3)) as [string, string, string];
  const conv = (await createConversation(deps, a, [b])).id;
  const before = queries;
  for (let i = 0; i < 50; i++) {
    expect(await conversationInfo(deps, conv, stranger)).toBeNull();
    expect(await conversationInfo(deps, "999999999999", stranger)).toBeNull();
  }
  expect(queries - before).toBeLessThanOrEqual(2);
  // the members themselves are still answered
  expect((await conversationInfo(deps, conv, a))?.members.sort()).toEqual([a, b].sort());
});
