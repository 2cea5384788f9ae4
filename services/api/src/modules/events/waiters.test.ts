/** Long-poll waiters against a real api and a Redis subscriber connection that goes half-open. */
import { afterAll, expect, test } from "bun:test";
import { createRedis } from "@xplicit/shared/redis";
import { redisRelay } from "../../../../../tests/harness/redis-relay.ts";
import { useTestApi } from "../../../../../tests/harness/api.ts";
import { createWaiters } from "./waiters.ts";

const api = useTestApi();
const relay = await redisRelay(process.env.REDIS_URL!);
const subscriber = createRedis(relay.url, "waiters-test:sub", { maxRetriesPerRequest: null });
afterAll(() => {
  subscriber.disconnect();
  relay.close();
});

test("a long-poll whose subscription goes unanswered (a half-open connection) answers at the end of its wait instead of hanging", async () => {
  const waiters = createWaiters({ ...api.deps, subscriber: () => subscriber });
  await subscriber.ping();
  relay.freezeOpen();
  const started = performance.now();
  const outcome = await Promise.race([
    waiters.wait("12345", 300, new AbortController().signal, async () => false).then(() => "answered"),
    Bun.sleep(5_000).then(() => "still waiting"),
  ]);
  expect(outcome).toBe("answered");
  expect(performance.now() - started).toBeLessThan(2_000);
});
