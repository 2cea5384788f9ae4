/**
 * The pub/sub probe against real Redis (through a relay that can hold what Redis sends) and real
 * Postgres: a replica that was stopped is not a replica cut off from Redis.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { loadConfig } from "@xplicit/shared/config";
import { createDb } from "@xplicit/shared/db";
import { createRedis, redisKeys } from "@xplicit/shared/redis";
import { redisRelay } from "../../../../../tests/harness/redis-relay.ts";
import type { ChatDeps } from "../../deps.ts";
import { createPubSubProbe } from "./pubsub-probe.ts";

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 2 });
let relay: Awaited<ReturnType<typeof redisRelay>>;

beforeAll(async () => {
  relay = await redisRelay(config.redisUrl);
});
afterAll(async () => {
  relay.close();
  await sql.end();
});

test("a replica whose process was stopped longer than the cut-off time does not send its clients away when it runs again", async () => {
  const replicaName = `probe-test-${process.pid}`;
  const redis = createRedis(config.redisUrl, "test-probe");
  const subscriber = createRedis(relay.url, "test-probe:sub");
  // another replica said a moment ago that its own round trip works
  await sql`insert into chat_replica_health (replica, pubsub_ok_at) values (${`${replicaName}-peer`}, now())
    on conflict (replica) do update set pubsub_ok_at = now()`;
  const deps = { redis, subscriber, sql, keys: redisKeys(`${config.redisPrefix}probe-test:`), config: { ...config, chat: { ...config.chat, replicaName } } } as unknown as ChatDeps;
  let shed = 0;
  const probe = createPubSubProbe(deps, { intervalMs: 200, lostAfterMs: 1_000, onLost: async () => void shed++ });
  try {
    await probe.start();
    for (let i = 0; i < 50 && probe.status().lastOkAgoMs === null; i++) await Bun.sleep(50);
    expect(probe.status().lastOkAgoMs).not.toBeNull();
    // the process stops for 3 s (nothing runs: as under SIGSTOP), and what Redis sends it comes late
    // when it runs again (a backlog of messages ahead of the probe's reply)
    relay.holdReplies();
    Bun.sleepSync(3_000);
    await Bun.sleep(400);
    relay.releaseReplies();
    await Bun.sleep(600);
    expect({ shed, cutOff: probe.isCutOff() }).toEqual({ shed: 0, cutOff: false });
  } finally {
    probe.stop();
    redis.disconnect();
    subscriber.disconnect();
    await sql`delete from chat_replica_health where replica = ${`${replicaName}-peer`}`;
  }
});

test("a replica is not ready before its first round trip, however young it is", async () => {
  const replicaName = `probe-test-young-${process.pid}`;
  // its publishes never reach Redis: no round trip can work
  const publisher = createRedis(relay.url, "test-probe:pub");
  await publisher.ping();
  relay.hold();
  const subscriber = createRedis(config.redisUrl, "test-probe:sub2");
  const deps = { redis: publisher, subscriber, sql, keys: redisKeys(`${config.redisPrefix}probe-test:`), config: { ...config, chat: { ...config.chat, replicaName } } } as unknown as ChatDeps;
  const probe = createPubSubProbe(deps, { intervalMs: 200 });
  try {
    await probe.start();
    await Bun.sleep(300);
    await expect(probe.check()).rejects.toThrow("no pub/sub round trip yet");
  } finally {
    probe.stop();
    relay.release();
    publisher.disconnect();
    subscriber.disconnect();
  }
});
