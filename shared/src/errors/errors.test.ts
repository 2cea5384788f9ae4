/** Which failures are a dependency away for a moment (503 unavailable), against a real Redis. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createRedis } from "../redis/index.ts";
import { freePort } from "../../../tests/harness/stack.ts";
import { isDependencyUnavailable } from "./index.ts";

let replica: ReturnType<typeof Bun.spawn>;
let port = 0;

beforeAll(async () => {
  port = await freePort();
  // a replica of a primary that is not there: what a demoted primary answers writes with
  replica = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", "1"], { stdout: "ignore", stderr: "ignore" });
  const probe = createRedis(`redis://127.0.0.1:${port}`, "test-errors:probe");
  for (let i = 0; i < 100 && (await probe.ping().catch(() => null)) !== "PONG"; i++) await Bun.sleep(50);
  probe.disconnect();
});
afterAll(() => replica?.kill());

test("a write refused by a read-only replica (a demoted primary), plain or from a script, is a dependency away", async () => {
  const redis = createRedis(`redis://127.0.0.1:${port}`, "test-errors");
  try {
    const plain = await redis.set("k", "v").then(() => null, (e: Error) => e);
    const scripted = await redis.eval("return redis.call('SET', KEYS[1], 'v')", 1, "k").then(() => null, (e: Error) => e);
    for (const err of [plain, scripted]) {
      expect(err?.message).toContain("READONLY");
      expect(isDependencyUnavailable(err!)).toBe(true);
    }
  } finally {
    redis.disconnect();
  }
});

test("an ordinary error is not", () => {
  expect(isDependencyUnavailable(new Error("ERR wrong number of arguments for 'set' command"))).toBe(false);
  expect(isDependencyUnavailable(new TypeError("cannot read properties of undefined"))).toBe(false);
  // a Redis code only where a Redis error puts it, not as a word anywhere in a message
  expect(isDependencyUnavailable(new Error('relation "BUSY_HOURS" does not exist'))).toBe(false);
  expect(isDependencyUnavailable(new Error("cannot write: the table is READONLY for this role"))).toBe(false);
});
