import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { redisKeys } from "@xplicit/shared/redis";
import { freePort, startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, member, resumedFromStoredAck } from "./fixtures.ts";

// A Redis of its own, so restarting it cannot disturb anything else running on this machine.
let redisPort = 0;
let redis: Subprocess | null = null;
let stack: Stack;

function startRedis(): Subprocess {
  return Bun.spawn(["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
}

/** A command to this test's Redis; its answer as redis-cli prints it. */
async function cli(...args: string[]): Promise<string> {
  const p = Bun.spawn(["redis-cli", "-p", String(redisPort), ...args], { stdout: "pipe" });
  return (await new Response(p.stdout).text()).trim();
}

async function redisUp(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await cli("ping")) === "PONG") return;
    await Bun.sleep(100);
  }
  throw new Error("redis did not start");
}

async function restartRedisLosingData(): Promise<void> {
  redis!.kill("SIGKILL");
  await redis!.exited;
  redis = startRedis();
  await redisUp();
}

/** A send right after a restart may meet a connection still coming back: tried until it is answered. */
async function sendOnceUp(client: Awaited<ReturnType<typeof connected>>, conv: string, body: string): Promise<void> {
  const id = crypto.randomUUID();
  for (let i = 0; i < 50; i++) {
    client.frames = client.frames.filter((f) => f.type !== "error");
    if ((await client.sendMessage(conv, body, id)).type === "sent") return;
    await Bun.sleep(200);
  }
  throw new Error(`"${body}" was never sent`);
}

/** Polls briefly: the key may be written just after the triggering step. */
async function keyExists(key: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if ((await cli("exists", key)) === "1") return true;
    await Bun.sleep(100);
  }
  return false;
}

beforeAll(async () => {
  redisPort = await freePort();
  redis = startRedis();
  await redisUp();
  stack = await startStack({ chatReplicas: 2, env: { REDIS_URL: `redis://127.0.0.1:${redisPort}` } });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  redis?.kill("SIGKILL");
});

test("Redis restarted with its data lost: open clients are told to resync, then live delivery resumes", async () => {
  const [r1, r2] = stack.chats as [any, any];
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const a1 = await connected(a, r1);
  const b1 = await connected(b, r2);
  // A connecting member's unread badge is cached (fan-outs then never count in Postgres for them).
  expect(await keyExists(redisKeys(process.env.REDIS_PREFIX!).unread(b.id))).toBe(true);
  await a1.sendMessage(conv, "before the restart");
  await b1.waitFor(() => b1.messages().length === 1, 5000, "first message");

  await restartRedisLosingData();

  await b1.waitFor(() => b1.frames.some((f) => f.type === "resync" && f.reason === "epoch_changed"), 15_000, "resync after restart");
  // The session cache was lost too: the sender's next send goes through Postgres and refills it.
  await sendOnceUp(a1, conv, "after the restart");
  await b1.waitFor(() => b1.messages().some((m) => m.data.body === "after the restart"), 10_000, "message after restart");
  // Presence is written again on reconnect, not only at the next 30 s heartbeat.
  expect(await keyExists(redisKeys(process.env.REDIS_PREFIX!).online(b.id))).toBe(true);
  for (const r of [r1, r2]) {
    await (async () => {
      for (let i = 0; i < 50; i++) {
        if ((await fetch(`${r.url}/readyz`)).status === 200) return;
        await Bun.sleep(200);
      }
      throw new Error(`${r.url} not ready after the restart`);
    })();
  }
  a1.close();
  b1.close();
}, 60_000);

test("Redis flushed without dropping a connection: open clients are told to resync, never left to drop the new stream as repeats", async () => {
  const [r1, r2] = stack.chats as [any, any];
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const a1 = await connected(a, r1);
  const b1 = await connected(b, r2);
  for (let i = 1; i <= 5; i++) await a1.sendMessage(conv, `before the flush ${i}`);
  await b1.waitFor(() => b1.messages().length === 5, 5000, "five messages");

  expect(await cli("flushall")).toBe("OK"); // the connections stay up: no reconnect to notice it by

  await sendOnceUp(a1, conv, "after the flush 1");
  await b1.waitFor(() => b1.frames.some((f) => f.type === "resync" && f.reason === "epoch_changed"), 10_000, "resync after the flush");
  await sendOnceUp(a1, conv, "after the flush 2");
  await b1.waitFor(() => b1.messages().some((m) => m.data.body === "after the flush 2"), 10_000, "a message after the flush, live");
  a1.close();
  b1.close();
}, 60_000);

// (that an ack of the old stream is never stored — the case where the replica flushes one after the
// restart, which this timing rarely reaches — is hub.test's "every socket's acks" test)
test("after Redis lost its data, a client resuming from its stored ack gets every message of the new stream", async () => {
  const [r1, r2] = stack.chats as [any, any];
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const a1 = await connected(a, r1);
  const b1 = await connected(b, r2);
  for (let i = 1; i <= 6; i++) await a1.sendMessage(conv, `old ${i}`);
  await b1.waitFor(() => b1.messages().length === 6, 5000, "six messages");
  // b1 acked seq 6, and acks it again until its replica has seen that Redis lost the stream
  await restartRedisLosingData();
  while (!b1.frames.some((f) => f.type === "resync")) {
    b1.send({ type: "ack", seq: 6 });
    await Bun.sleep(50);
  }

  await sendOnceUp(a1, conv, "new 1");
  await sendOnceUp(a1, conv, "new 2");
  await b1.waitFor(() => b1.messages().some((m) => m.data.body === "new 2"), 10_000, "new 2");
  // b1's acks of the new stream (seq 2) are written within a second; then b goes away for a while
  await Bun.sleep(1_500);
  b1.close();
  await b1.closed();
  const later = ["new 3", "new 4", "new 5", "new 6", "new 7"];
  for (const body of later) await sendOnceUp(a1, conv, body);
  // back without a cursor: resumed from the stored ack, so from seq 2 of the new stream, not from 6
  expect(await resumedFromStoredAck(b, r1, b1.clientId, later.length)).toEqual(later);
  a1.close();
}, 60_000);

test("pub/sub stalled while Redis still answers: /readyz turns 503 on the probe, and 200 again once it flows", async () => {
  const r1 = stack.chats[0]!;
  const readyz = async () => {
    const res = await fetch(`${r1.url}/readyz`);
    return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
  };
  const cli = (...args: string[]) => Bun.spawn(["redis-cli", "-p", String(redisPort), ...args], { stdout: "ignore" }).exited;
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const a1 = await connected(a, stack.chats[1]!);
  const b1 = await connected(b, r1);
  expect((await readyz()).status).toBe(200);
  // Channels are taken away from the (default) user: subscribers are cut off and PUBLISH refused,
  // while every other command, PING included, still works.
  await cli("acl", "setuser", "default", "resetchannels");
  let stalled: { status: number; checks: Record<string, string> } | null = null;
  for (let i = 0; i < 100 && !stalled; i++) {
    const r = await readyz();
    if (r.status === 503) stalled = r;
    else await Bun.sleep(200);
  }
  await cli("acl", "setuser", "default", "allchannels");
  expect(stalled?.checks.pubsub).not.toBe("ok");
  expect(stalled?.checks.redis).toBe("ok");
  let ready = false;
  for (let i = 0; i < 100 && !ready; i++) {
    ready = (await readyz()).status === 200;
    if (!ready) await Bun.sleep(200);
  }
  expect(ready).toBe(true);
  // the replica subscribed its members' channels again: live delivery works on the open socket
  expect((await a1.sendMessage(conv, "after the repair")).type).toBe("sent");
  await b1.waitFor(() => b1.messages().some((m) => m.data.body === "after the repair"), 10_000, "live delivery after the repair");
  a1.close();
  b1.close();
}, 60_000);

test("Redis out of memory (answers PING, refuses writes): /readyz is 503 naming redis, and 200 again once it takes writes", async () => {
  const r1 = stack.chats[0]!;
  const readyz = async () => {
    const res = await fetch(`${r1.url}/readyz`);
    return { status: res.status, redis: ((await res.json()) as { checks: Record<string, string> }).checks.redis };
  };
  expect((await readyz()).status).toBe(200);
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const a1 = await connected(a, r1);
  expect(await cli("config", "set", "maxmemory", "1")).toBe("OK");
  try {
    expect(await cli("ping")).toBe("PONG");
    const full = await readyz();
    expect(full.status).toBe(503);
    expect(full.redis).toContain("OOM");
    // requests that write Redis are 503 unavailable with Retry-After, as while it is away (were 500)
    const refused = await a.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "while Redis is full" });
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe("unavailable");
    expect(refused.headers.get("retry-after")).not.toBeNull();
    // over the socket too: `unavailable` (resend), not `internal`
    const answer = await a1.sendMessage(conv, "while Redis is full, over the socket");
    expect(answer).toMatchObject({ type: "error", code: "unavailable" });
  } finally {
    a1.close();
    await cli("config", "set", "maxmemory", "0");
  }
  expect((await readyz()).status).toBe(200);
});
