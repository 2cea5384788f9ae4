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
  // Member 2 shares a conversation with member 1 and is online.
  const presence = { online: async (ids: string[]) => ids.map(() => true) };
  const deps = { config, sql, presence, messaging: { sql } } as unknown as ChatDeps;
  const sent: string[] = [];
  const socket = { buffered: 0, closedWith: 0 };
  const hub = { deps, partnersOf: async () => ["2"] };
  const conn = new Connection(hub as unknown as Hub, { userId: "1", sessionId: "1", token: "t" });
  conn.ws = {
    send: (t: string) => void sent.push(t),
    getBufferedAmount: () => socket.buffered,
    close: (code: number) => void (socket.closedWith = code),
    cork: (f: () => void) => f(),
  } as never;
  conn.state = "live";
  return { conn, sent, socket, config };
}

test("typing frames naming ever new conversations do not grow the socket's typing memory without bound", async () => {
  const { conn, sent } = fakeConnection();
  for (let i = 1; i <= 5000; i++) conn.received(JSON.stringify({ type: "typing", conversationId: String(i) }));
  await Bun.sleep(50);
  expect(sent.filter((f) => f.includes('"not_member"')).length).toBe(5000);
  const remembered = (conn as unknown as { lastTyping: Map<string, number> }).lastTyping;
  expect(remembered.size).toBeLessThanOrEqual(64);
});

test("a socket over half its send buffer gets no typing or presence frames, but every event; one that would overflow is closed 1013", async () => {
  const { conn, sent, socket, config } = fakeConnection();
  const event = (seq: number) => `{"type":"event","seq":${seq},"ts":${Date.now()},"kind":"read","data":{}}`;
  const typing = JSON.stringify({ type: "typing", conversationId: "7", userId: "2" });

  socket.buffered = config.chat.maxBufferedBytes / 2 + 1;
  conn.deliverLive(typing);
  conn.received(JSON.stringify({ type: "presence", userIds: ["2"] }));
  conn.deliverLive(event(1));
  await Bun.sleep(20);
  expect(sent.map((f) => JSON.parse(f).type)).toEqual(["event"]);
  expect(conn.cursor).toBe(1);

  socket.buffered = 0;
  conn.deliverLive(typing);
  conn.received(JSON.stringify({ type: "presence", userIds: ["2"] }));
  await Bun.sleep(20);
  expect(sent.slice(1).map((f) => JSON.parse(f).type)).toEqual(["typing", "presence"]);

  socket.buffered = config.chat.maxBufferedBytes;
  conn.deliverLive(event(2));
  expect(socket.closedWith).toBe(1013);
  expect(conn.cursor).toBe(1);
});
