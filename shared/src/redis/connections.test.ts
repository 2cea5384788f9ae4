/** The services' Redis connections against a Redis that stops answering (a freeze, a pause). */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../config/index.ts";
import { isDependencyUnavailable } from "../errors/index.ts";
import { redisRelay } from "../../../tests/harness/redis-relay.ts";
import { createRedisConnections } from "./index.ts";

const relay = await redisRelay(loadConfig().redisUrl);
afterAll(() => relay.close());

test("a command Redis does not answer fails after the command timeout as 'unavailable', and the connection works again after", async () => {
  const conns = createRedisConnections(relay.url, "timeout-test", { commandTimeoutMs: 300 });
  try {
    expect(await conns.command.ping()).toBe("PONG");
    relay.hold();
    const err = await conns.command.get("anything").then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isDependencyUnavailable(err!)).toBe(true);
    relay.release();
    expect(await conns.command.ping()).toBe("PONG");
  } finally {
    await conns.close();
  }
});
