/** Connection frame handling against a fake hub: per-socket state stays bounded whatever a client sends. */
import { expect, test } from "bun:test";
import { loadConfig } from "@xplicit/shared/config";
import type { ChatDeps } from "../../deps.ts";
import { Connection } from "./connection.ts";
import type { Hub } from "./hub.ts";

function fakeConnection() {
  const config = loadConfig({ ...process.env, CHAT_RATE_PER_SECOND: "100000", CHAT_RATE_BURST: "100000" });
  // No conversation exists: every membership lookup answers "no such conversation".
  const sql = Object.assign(async () => [], {}) as unknown as ChatDeps["sql"];
  const deps = { config, sql, messaging: { sql } } as unknown as ChatDeps;
  const sent: string[] = [];
  const conn = new Connection({ deps } as unknown as Hub, { userId: "1", sessionId: "1", token: "t" });
  conn.ws = { send: (t: string) => void sent.push(t), getBufferedAmount: () => 0, close() {}, cork: (f: () => void) => f() } as never;
  conn.state = "live";
  return { conn, sent };
}

test("typing frames naming ever new conversations do not grow the socket's typing memory without bound", async () => {
  const { conn, sent } = fakeConnection();
  for (let i = 1; i <= 5000; i++) conn.received(JSON.stringify({ type: "typing", conversationId: String(i) }));
  await Bun.sleep(50);
  expect(sent.filter((f) => f.includes('"not_member"')).length).toBe(5000);
  const remembered = (conn as unknown as { lastTyping: Map<string, number> }).lastTyping;
  expect(remembered.size).toBeLessThanOrEqual(64);
});
