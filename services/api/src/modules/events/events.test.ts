/** The HTTP long-poll: bounded per member, and every parked request is woken by an event. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { registeredClient, useTestApi } from "../../../../../tests/harness/api.ts";
import { MAX_BYTES_PER_ANSWER, MAX_EVENTS_PER_ANSWER, POLLS_PER_10S } from "./routes.ts";
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

type Poll = { events: { seq: number; kind: string; data: { body?: string } }[]; cursor: number; epoch: string; more?: true };

/** Sends `count` messages from a to b over HTTP; b's head before them. */
async function backlog(count: number, body: (n: number) => string) {
  const a = await registeredClient(api);
  const b = await registeredClient(api);
  const conv = (await a.client.post("/api/conversations", { handles: [b.user.handle] })).json.conversation.id;
  const head = (await b.client.get("/api/events")).json as Poll;
  for (let n = 0; n < count; n++) {
    const sent = await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: body(n) });
    expect(sent.status).toBe(200);
  }
  return { b, head };
}

async function drainFrom(client: Awaited<ReturnType<typeof registeredClient>>["client"], head: Poll) {
  const answers: { poll: Poll; bytes: number }[] = [];
  let at = head;
  do {
    const res = await client.get(`/api/events?after=${at.cursor}&epoch=${at.epoch}`);
    expect(res.status).toBe(200);
    at = res.json as Poll;
    answers.push({ poll: at, bytes: at.events.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0) });
  } while (at.more && answers.length < 20);
  return answers;
}

test("a long backlog comes in bounded answers (count): more: true and a cursor to poll on from, nothing skipped", async () => {
  const { b, head } = await backlog(MAX_EVENTS_PER_ANSWER + 10, (n) => `m${n}`);
  const answers = await drainFrom(b.client, head);
  expect(answers.map((a) => a.poll.events.length)).toEqual([MAX_EVENTS_PER_ANSWER, answers[1]!.poll.events.length]);
  expect(answers[0]!.poll.more).toBe(true);
  expect(answers[0]!.poll.cursor).toBe(answers[0]!.poll.events.at(-1)!.seq);
  expect(answers[1]!.poll.more).toBeUndefined();
  const bodies = answers.flatMap((a) => a.poll.events.filter((e) => e.kind === "message").map((e) => e.data.body));
  expect(bodies).toEqual(Array.from({ length: MAX_EVENTS_PER_ANSWER + 10 }, (_, n) => `m${n}`));
});

test("a backlog of long messages comes in answers of at most the byte bound (UTF-8 bytes)", async () => {
  // three bytes a character in UTF-8: the bound is of bytes, not characters
  const { b, head } = await backlog(80, (n) => `${n} ${"語".repeat(1990)}`);
  const answers = await drainFrom(b.client, head);
  expect(answers.length).toBeGreaterThan(1);
  for (const a of answers) expect(a.bytes).toBeLessThanOrEqual(MAX_BYTES_PER_ANSWER);
  const bodies = answers.flatMap((a) => a.poll.events.filter((e) => e.kind === "message").map((e) => e.data.body!.split(" ")[0]));
  expect(bodies).toEqual(Array.from({ length: 80 }, (_, n) => String(n)));
});

test("polls per member are budgeted: past it 429 with Retry-After", async () => {
  const { client } = await registeredClient(api);
  const statuses: number[] = [];
  for (let i = 0; i < POLLS_PER_10S; i += 20) statuses.push(...(await Promise.all(Array.from({ length: 20 }, async () => (await client.get("/api/events")).status))));
  expect(statuses.every((s) => s === 200)).toBe(true);
  const past = await client.get("/api/events");
  expect(past.status).toBe(429);
  expect(Number(past.headers.get("retry-after"))).toBeGreaterThan(0);
});

test("a long-poll keeps its member online while it waits and a moment after, not a whole presence period", async () => {
  const { client, user } = await registeredClient(api);
  expect((await client.get("/api/events")).status).toBe(200);
  const ttl = await api.deps.redis.ttl(api.deps.keys.online(user.id));
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(16);
});
