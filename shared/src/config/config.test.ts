import { expect, test } from "bun:test";
import { ConfigError, loadConfig } from "./index.ts";

test("defaults are complete and typed", () => {
  const c = loadConfig({});
  expect(c.apiPort).toBe(3000);
  expect(c.chatPort).toBe(3100);
  expect(c.publicOrigins).toEqual(["https://localhost:8443", "http://localhost:3000"]);
  expect(c.session.idleSeconds).toBe(7 * 86400);
  expect(c.session.absoluteSeconds).toBe(30 * 86400);
  expect(c.chat.sendAnswerTtlSeconds).toBe(600);
  expect(c.migrateOnStart).toBe(true);
  expect(c.redisAutoPipelining).toBe(false);
  expect(loadConfig({ MIGRATE_ON_START: "false", REDIS_AUTO_PIPELINING: "true", PUBLIC_DIR: "web/../public" }).migrateOnStart).toBe(false);
  expect(loadConfig({ PUBLIC_DIR: "web/../public" }).publicDir).toBe(`${process.cwd()}/public`);
});

test.each([
  ["API_PORT", "http"],
  ["API_PORT", "70000"],
  ["LOG_LEVEL", "loud"],
  ["LOG_LEVELS", "chat"],
  ["SESSION_IDLE_SECONDS", "0"],
  ["STATUS_TARGETS", "chat=ftp://x"],
  ["NODE_ENV", "staging"],
  ["CHAT_SEND_ANSWER_TTL_SECONDS", "5"],
  ["MIGRATE_ON_START", "nope"],
  ["REDIS_AUTO_PIPELINING", "sometimes"],
])("a bad %s (%p) is refused naming the variable", (name, value) => {
  let caught: unknown;
  try {
    loadConfig({ [name]: value });
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as ConfigError).variable).toBe(name);
  expect((caught as Error).message).toContain(name);
});
