/** Connection frame handling against a fake hub: per-socket state stays bounded whatever a client sends. */
import { expect, test } from "bun:test";
import { loadConfig } from "@xplicit/shared/config";
import { AppError } from "@xplicit/shared/errors";
import { registry } from "@xplicit/shared/metrics";
import type { ChatDeps } from "../../deps.ts";
import { Connection } from "./connection.ts";
import type { Hub } from "./hub.ts";

async function refusedSends(reason: string): Promise<number> {
  const text = await registry.getSingleMetricAsString("chat_sends_refused_total");
  return Number(new RegExp(`reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

function fakeConnection(env: Record<string, string> = {}) {
  const config = loadConfig({ ...process.env, CHAT_RATE_PER_SECOND: "100000", CHAT_RATE_BURST: "100000", ...env });
  // No conversation exists: every membership lookup answers "no such conversation".
  const sql = Object.assign(async () => [], {}) as unknown as ChatDeps["sql"];
  // Member 2 shares a conversation with member 1 and is online.
  const presence = { online: async (ids: string[]) => ids.map(() => true) };
  const deps = { config, sql, presence, messaging: { sql } } as unknown as ChatDeps;
  const sent: string[] = [];
  const socket = { buffered: 0, closedWith: 0 };
  const hub = { deps, presenceLists: { audienceAmong: async (_: string, ids: readonly string[]) => ids.filter((id) => id === "2"), visibleAmong: async (_: string, ids: readonly string[]) => ids.filter((id) => id === "2") }, allowSend: () => true, allowTyping: () => true };
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
  const remembered = (conn as unknown as { typingThrottle: { size: number } }).typingThrottle;
  expect(remembered.size).toBeLessThanOrEqual(64);
  // (past 64 at once the rest are dropped, as typing is under pressure); a conversation the member
  // is not in leaves nothing behind, so the next one is checked and answered again
  expect(sent.filter((f) => f.includes('"not_member"')).length).toBeGreaterThanOrEqual(64);
  expect(remembered.size).toBe(0);
  const before = sent.length;
  conn.received(JSON.stringify({ type: "typing", conversationId: "9999" }));
  await Bun.sleep(20);
  expect(sent.slice(before).some((f) => f.includes('"not_member"'))).toBe(true);
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

test("a socket that does not read its answers is closed 1013 like one that does not read its events", () => {
  const { conn, sent, socket, config } = fakeConnection();
  socket.buffered = config.chat.maxBufferedBytes;
  conn.received(JSON.stringify({ type: "ping", ts: 1 }));
  expect(socket.closedWith).toBe(1013);
  expect(sent).toEqual([]);
});

test("a frame before hello is refused with its type cut short, not echoed whole", () => {
  const { conn, sent } = fakeConnection();
  conn.state = "awaiting_hello";
  conn.received(JSON.stringify({ type: "t".repeat(60_000) }));
  const [refusal] = sent.map((f) => JSON.parse(f));
  expect(refusal).toMatchObject({ type: "error", code: "hello_required", ref: "t".repeat(40) });
  expect(sent[0]!.length).toBeLessThan(200);
});

test("sends waiting for their turn are bounded by the buffer budget: the rest are refused busy, with their id, until the queue drains", async () => {
  const budget = 65_536;
  const { conn, sent } = fakeConnection({ CHAT_MAX_QUEUED_SEND_BYTES: String(budget) });
  const sendFrame = () => JSON.stringify({ type: "send", id: crypto.randomUUID(), conversationId: "5", body: "x".repeat(4000) });
  const frames = Array.from({ length: 40 }, sendFrame);
  const refusedBefore = await refusedSends("busy");
  for (const f of frames) conn.received(f);
  const fits = Math.floor(budget / frames[0]!.length);
  const busy = sent.map((f) => JSON.parse(f)).filter((f) => f.code === "busy");
  expect(busy.map((f) => f.ref)).toEqual(frames.slice(fits).map((f) => JSON.parse(f).id));
  expect((await refusedSends("busy")) - refusedBefore).toBe(busy.length);

  // answered (no such conversation here): the budget is free again
  const answered = () => sent.filter((f) => f.includes('"not_member"')).length;
  for (let i = 0; i < 250 && answered() < fits; i++) await Bun.sleep(20);
  expect(answered()).toBe(fits);
  conn.received(sendFrame());
  for (let i = 0; i < 250 && answered() < fits + 1; i++) await Bun.sleep(20);
  expect(answered()).toBe(fits + 1);
  expect(sent.filter((f) => f.includes('"busy"')).length).toBe(40 - fits);
});

test("after a reconnect, live events that overtake the head's second reading are no loss: no resync, nothing sent twice", async () => {
  const { conn, sent } = fakeConnection();
  const event = (seq: number) => `{"type":"event","seq":${seq},"ts":${Date.now()},"kind":"read","data":{}}`;
  conn.epoch = "e1";
  conn.deliverLive(event(1));
  conn.deliverLive(event(2));
  // the second reading answers the head as it was when asked (2), after event 3 came over pub/sub
  (conn as unknown as { hub: { deps: Record<string, unknown> } }).hub.deps.events = {
    head: async () => {
      conn.deliverLive(event(3));
      return { seq: 2, epoch: "e1" };
    },
  };
  await conn.recoverAfterRedisReconnect({ seq: 1, epoch: "e1" });
  expect(sent.map((f) => [JSON.parse(f).type, JSON.parse(f).seq])).toEqual([["event", 1], ["event", 2], ["event", 3]]);
  expect(conn.cursor).toBe(3);
  // a head really behind what this socket was sent is a loss
  (conn as unknown as { hub: { deps: Record<string, unknown> } }).hub.deps.events = { head: async () => ({ seq: 1, epoch: "e1" }) };
  await conn.recoverAfterRedisReconnect({ seq: 1, epoch: "e1" });
  expect(JSON.parse(sent.at(-1)!)).toMatchObject({ type: "resync", reason: "epoch_changed", cursor: 1 });
});

test("a send that fails for an outage fails the sends queued behind it at once; one sent after it is tried again", async () => {
  const { conn, sent } = fakeConnection();
  let asked = 0;
  // Postgres away: every statement fails after a while, as a query past its deadline does
  const away = Object.assign(async () => {
    asked++;
    await Bun.sleep(100);
    throw new AppError(503, "unavailable", "away");
  }, {}) as unknown as ChatDeps["sql"];
  const deps = (conn as unknown as { hub: { deps: { messaging: { sql: unknown } } } }).hub.deps;
  deps.messaging = { sql: away };
  const sendFrame = () => JSON.stringify({ type: "send", id: crypto.randomUUID(), conversationId: "5", body: "hi" });
  for (let i = 0; i < 5; i++) conn.received(sendFrame());
  const unavailable = () => sent.filter((f) => f.includes('"unavailable"')).length;
  for (let i = 0; i < 100 && unavailable() < 5; i++) await Bun.sleep(20);
  // each is answered, and only the first waited for Postgres
  expect([unavailable(), asked]).toEqual([5, 1]);
  conn.received(sendFrame());
  for (let i = 0; i < 100 && unavailable() < 6; i++) await Bun.sleep(20);
  expect([unavailable(), asked]).toEqual([6, 2]);
});

test("live events waiting behind a catch-up or a stream check are bounded: past the bound the socket is closed 1013 (it resumes from its cursor)", () => {
  const { conn, socket } = fakeConnection();
  conn.state = "replaying";
  const event = (seq: number) => `{"type":"event","seq":${seq},"ts":${Date.now()},"kind":"message","data":{}}`;
  for (let seq = 2; seq <= 2001; seq++) conn.deliverLive(event(seq));
  expect(socket.closedWith).toBe(0);
  conn.deliverLive(event(2002));
  expect(socket.closedWith).toBe(1013);
});
