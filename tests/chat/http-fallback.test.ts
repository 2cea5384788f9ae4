import { afterAll, beforeAll, expect, test } from "bun:test";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, member } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 1 });
}, 60_000);
afterAll(() => stack?.stop());

test("a member on HTTP long-poll gets the same events with the same seqs as their WebSocket client", async () => {
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const ws = await connected(b, stack.chats[0]!);
  const clientId = "http-client-1";

  const first = await b.http.get(`/api/events?clientId=${clientId}&after=0`);
  expect(first.status).toBe(200);
  const startCursor = first.json.cursor;
  const epoch = first.json.epoch;

  const poll = b.http.get(`/api/events?after=${startCursor}&epoch=${epoch}&wait=10&clientId=${clientId}`);
  await Bun.sleep(200);
  const sent = await a.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "via http" });
  expect(sent.status).toBe(200);
  const got = await poll;
  expect(got.json.events.map((e: any) => e.data.body)).toEqual(["via http"]);

  await ws.waitFor(() => ws.messages().length === 1, 5000, "ws copy");
  expect(got.json.events[0].seq).toBe(ws.messages()[0]!.seq);

  expect((await b.http.post("/api/events/ack", { clientId, seq: got.json.cursor })).status).toBe(200);
  const resumed = await b.http.get(`/api/events?clientId=${clientId}`);
  expect(resumed.json.events).toEqual([]);
  expect(resumed.json.cursor).toBe(got.json.cursor);

  const stale = await b.http.get(`/api/events?after=0&epoch=not-the-epoch`);
  expect(stale.json.resync.reason).toBe("epoch_changed");

  // an ack counted in an epoch the stream no longer has is not stored: the resume replays from the one before
  expect((await a.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "after the ack" })).status).toBe(200);
  expect((await b.http.post("/api/events/ack", { clientId, seq: got.json.cursor + 1, epoch: "not-the-epoch" })).status).toBe(200);
  const replayed = await b.http.get(`/api/events?clientId=${clientId}`);
  expect(replayed.json.events.map((e: any) => e.data.body)).toEqual(["after the ack"]);

  expect((await b.http.get(`/api/events?wait=99`)).status).toBe(400);
  expect((await b.http.post("/api/events/ack", { clientId, seq: -1 })).status).toBe(400);
  ws.close();
});
