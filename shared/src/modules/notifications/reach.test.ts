/** An actor's hourly reach against real Redis: distinct recipients counted, repeats free. */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createNotificationReach } from "./reach.ts";

const config = loadConfig();
const redis = createRedis(config.redisUrl, "reach-test");
const keys = redisKeys(`${config.redisPrefix}reach-test:`);
afterAll(() => redis.disconnect());

test("an actor notifies at most the limit of distinct members an hour; a member already reached costs nothing", async () => {
  const reach = createNotificationReach(redis, keys, 3);
  const actor = String(1e9 + Math.floor(Math.random() * 1e6));
  const first = await Promise.all(["1", "2", "3", "4", "5"].map((r) => reach.allowed(actor, [r]).then((ok) => ok.length === 1)));
  expect(first.filter(Boolean)).toHaveLength(3);
  const reached = ["1", "2", "3", "4", "5"].filter((_, i) => first[i]);
  // follow/unfollow/follow again, a view after a follow: the same members, always allowed
  for (const r of reached) expect(await reach.allowed(actor, [r]).then((ok) => ok.length === 1)).toBe(true);
  expect(await reach.allowed(actor, ["6"]).then((ok) => ok.length === 1)).toBe(false);
  // another actor has a reach of its own
  expect(await reach.allowed(`${actor}1`, ["6"]).then((ok) => ok.length === 1)).toBe(true);
  const ttl = await redis.ttl(keys.notificationReach(actor, Math.floor(Date.now() / 3_600_000)));
  expect(ttl).toBeGreaterThan(3600);
});
