/** The HTTP long-poll: bounded per member, and every parked request is woken by an event. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { registeredClient, useTestApi } from "../../../../../tests/harness/api.ts";
import { MAX_WAITERS_PER_MEMBER } from "./waiters.ts";

setDefaultTimeout(60_000);

const api = useTestApi();

test("a burst of long-polls from one member is capped with 429; the parked ones are all woken by the next event", async () => {
  const a = await registeredClient(api);
  const b = await registeredClient(api);
  const conv = (await a.client.post("/api/conversations", { handles: [b.user.handle] })).json.conversation.id;
  const head = (await b.client.get("/api/events")).json;

  const started = Date.now();
  const polls = Array.from({ length: MAX_WAITERS_PER_MEMBER + 10 }, () => b.client.get(`/api/events?after=${head.cursor}&epoch=${head.epoch}&wait=20`));
  await Bun.sleep(500);
  const sent = await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "wake up" });
  expect(sent.status).toBe(200);
  const answers = await Promise.all(polls);
  expect(Date.now() - started).toBeLessThan(10_000);

  const refused = answers.filter((r) => r.status === 429);
  expect(refused).toHaveLength(10);
  for (const r of refused) {
    expect(r.json.error.code).toBe("rate_limited");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  }
  const woken = answers.filter((r) => r.status === 200);
  expect(woken).toHaveLength(MAX_WAITERS_PER_MEMBER);
  for (const r of woken) expect(r.json.events.map((e: { data: { body: string } }) => e.data.body)).toEqual(["wake up"]);

  // the slots are free again
  const again = await b.client.get(`/api/events?after=${head.cursor}&epoch=${head.epoch}&wait=1`);
  expect(again.status).toBe(200);
});

test("absurd cursors and epochs are answered with a resync, never replayed", async () => {
  const a = await registeredClient(api);
  const b = await registeredClient(api);
  await a.client.post("/api/conversations", { handles: [b.user.handle] });
  const head = (await b.client.get("/api/events")).json;
  const ahead = await b.client.get(`/api/events?after=${Number.MAX_SAFE_INTEGER}&epoch=${head.epoch}&wait=25`);
  expect(ahead.json.resync.reason).toBe("cursor_ahead");
  expect(ahead.json.cursor).toBe(head.cursor);
  for (const epoch of ["zzzzzzzz", head.epoch + "x".repeat(100)]) {
    const res = await b.client.get(`/api/events?after=0&epoch=${epoch}`);
    expect(res.status).toBe(200);
    expect(res.json.resync.reason).toBe("epoch_changed");
  }
});

test("a poll parked before 'sign out everywhere' gets 401 when it wakes, not the message sent afterwards", async () => {
  const a = await registeredClient(api);
  const b = await registeredClient(api);
  const conv = (await a.client.post("/api/conversations", { handles: [b.user.handle] })).json.conversation.id;
  const head = (await b.client.get("/api/events")).json;
  const poll = b.client.get(`/api/events?after=${head.cursor}&epoch=${head.epoch}&wait=20`);
  await Bun.sleep(300);
  expect((await b.client.post("/api/auth/logout-all")).status).toBe(200);
  expect((await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "private" })).status).toBe(200);
  const answer = await poll;
  expect([answer.status, JSON.stringify(answer.json).includes("private")]).toEqual([401, false]);
});
