import { afterAll, expect, setSystemTime, test } from "bun:test";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createPresence } from "./index.ts";

const redis = createRedis(process.env.REDIS_URL!, "presence-test");
const keys = redisKeys(`${process.env.REDIS_PREFIX}presence:`);
const presence = createPresence({ redis, keys, ttlSeconds: 60 });
afterAll(() => redis.disconnect());

test("a member is online while any replica holds a client, and offline when the last one leaves", async () => {
  await presence.connected("1", "replica-a");
  await presence.connected("1", "replica-b");
  expect(await presence.online(["1", "2"])).toEqual([true, false]);
  await presence.disconnected("1", "replica-a");
  expect(await presence.online(["1"])).toEqual([true]);
  await presence.disconnected("1", "replica-b");
  expect(await presence.online(["1"])).toEqual([false]);
  expect(await redis.exists(keys.online("1"))).toBe(0);
});

test("the online key expires at the latest replica deadline, so a dead replica's members fall off", async () => {
  const now = Math.floor(Date.now() / 1000);
  // replica-dead stopped refreshing long ago; replica-live holds the member until its deadline
  await redis.hset(keys.presence("3"), "replica-dead", now - 5);
  await presence.refresh("replica-live", ["3", "4"]);
  const ttl = await redis.ttl(keys.online("3"));
  expect(ttl).toBeGreaterThan(50);
  expect(ttl).toBeLessThanOrEqual(60);
  await presence.disconnected("3", "replica-live");
  // only the expired deadline is left: offline, not "online until the hash expires"
  expect(await presence.online(["3", "4"])).toEqual([false, true]);
});

test("each change says whether the member's cluster-wide state flipped (what partners are told)", async () => {
  expect(await presence.connected("5", "replica-a")).toEqual({ wasOnline: false, isOnline: true });
  expect(await presence.connected("5", "replica-b")).toEqual({ wasOnline: true, isOnline: true });
  expect(await presence.disconnected("5", "replica-a")).toEqual({ wasOnline: true, isOnline: true });
  expect(await presence.disconnected("5", "replica-b")).toEqual({ wasOnline: true, isOnline: false });
});

test("a replica whose clock is minutes off still shows its members online (deadlines are Redis' time)", async () => {
  const [redisSeconds] = await redis.time();
  try {
    for (const skewMinutes of [-10, 10]) {
      setSystemTime(new Date((Number(redisSeconds) + skewMinutes * 60) * 1000));
      await presence.connected("6", "replica-skewed");
      expect(await presence.online(["6"])).toEqual([true]);
      const ttl = await redis.ttl(keys.online("6"));
      expect(ttl).toBeGreaterThan(50);
      expect(ttl).toBeLessThanOrEqual(60);
      await presence.disconnected("6", "replica-skewed");
    }
  } finally {
    setSystemTime();
  }
});

test("by default a replica's deadline is 45 s ahead: a replica killed without its shutdown leaves its members online that long at most", async () => {
  const defaults = createPresence({ redis, keys });
  await defaults.connected("7", "replica-killed");
  const ttl = await redis.ttl(keys.online("7"));
  expect(ttl).toBeGreaterThan(30);
  expect(ttl).toBeLessThanOrEqual(45);
  await defaults.disconnected("7", "replica-killed");
});

test("a hold for a few seconds (a long-poll that stopped) keeps a member online that long, then they fall off", async () => {
  await presence.refresh("http-longpoll", ["7"], 1);
  expect(await presence.online(["7"])).toEqual([true]);
  // (the deadline is whole seconds of Redis' clock: past it within 2.1 s)
  for (let i = 0; i < 25 && (await presence.online(["7"]))[0]; i++) await Bun.sleep(100);
  expect(await presence.online(["7"])).toEqual([false]);
});

test("a short hold never cuts a longer one on the same field (two devices long-polling), nor the other replicas' fields", async () => {
  await presence.connected("8", "replica-socket");
  await presence.refresh("http-longpoll", ["8"], 40);
  await presence.refresh("http-longpoll", ["8"], 1);
  const now = Math.floor(Date.now() / 1000);
  const fields = await redis.hgetall(keys.presence("8"));
  expect(Number(fields["http-longpoll"])).toBeGreaterThanOrEqual(now + 35);
  expect(await redis.ttl(keys.presence("8"))).toBeGreaterThan(30);
  await Bun.sleep(1_500);
  expect(await presence.online(["8"])).toEqual([true]);
});

test("a replica's exact hold (a drain) replaces the deadline its heartbeat promised: should it die, its members fall off when the hold ends", async () => {
  await presence.connected("9", "replica-leaving");
  await presence.holdExactly("replica-leaving", ["9"], 1);
  for (let i = 0; i < 25 && (await presence.online(["9"]))[0]; i++) await Bun.sleep(100);
  expect(await presence.online(["9"])).toEqual([false]);
});
