/**
 * One replica cut off from Redis while the others reach it (a network partition): its clients must
 * move to a replica that can deliver, and it must take no new ones until it reaches Redis again.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { ChatClient } from "../harness/chat-client.ts";
import { redisRelay } from "../harness/redis-relay.ts";
import { startStack, type ServiceProcess, type Stack } from "../harness/stack.ts";
import { connected, conversation, member, wsUrl } from "./fixtures.ts";

setDefaultTimeout(60_000);

let stack: Stack;
let relay: Awaited<ReturnType<typeof redisRelay>>;
let cutOff: ServiceProcess;
let healthy: ServiceProcess;

beforeAll(async () => {
  stack = await startStack({ chatReplicas: 2 });
  relay = await redisRelay(process.env.REDIS_URL!);
  [cutOff, healthy] = stack.chats as [ServiceProcess, ServiceProcess];
  // chat-1 again, reaching Redis only through the relay
  await stack.kill(cutOff);
  // one socket per wave, waves far apart: a test can see the shedding stop between two waves
  Object.assign(cutOff.env, { REDIS_URL: relay.url, CHAT_REDIS_LOST_AFTER_SECONDS: "3", CHAT_DRAIN_WAVE_SIZE: "1", CHAT_DRAIN_WAVE_MS: "5000" });
  await stack.restart(cutOff);
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  relay?.close();
});

async function upgradeAnswer(replica: ServiceProcess): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${replica.url}/ws`);
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code };
}

test("a replica cut off from Redis sends its clients to the others and refuses new ones until it is back; nothing sent meanwhile is lost", async () => {
  const [alice, bob] = [await member(stack), await member(stack)];
  const conv = await conversation(alice, bob);
  const bobClient = await connected(bob, cutOff);
  const aliceClient = await connected(alice, healthy);
  await aliceClient.sendMessage(conv, "before the cut");
  await bobClient.waitFor(() => bobClient.messages().some((e) => e.data.body === "before the cut"));

  // nothing passes between chat-1 and Redis any more, either way, with no error: a partition
  relay.hold();
  relay.holdReplies();
  await aliceClient.sendMessage(conv, "during the cut");
  await bobClient.waitFor(() => bobClient.closeCode !== null, 20_000, "the cut-off replica to close bob's socket");
  expect(bobClient.closeCode).toBe(1012);
  expect(bobClient.frames.some((f) => f.type === "reconnect")).toBe(true);
  expect(await upgradeAnswer(cutOff)).toEqual({ status: 503, code: "unavailable" });

  // bob comes back, as the protocol says, with his cursor: the edge sends him to chat-2
  const back = new ChatClient(wsUrl(healthy), bob.cookie, bobClient.clientId);
  back.cursor = bobClient.cursor;
  back.epoch = bobClient.epoch;
  await back.connect();
  await back.hello();
  await back.waitFor(() => back.messages().some((e) => e.data.body === "during the cut"), 10_000, "the message sent during the cut");
  expect(back.messages().filter((e) => e.data.body === "before the cut")).toEqual([]);

  expect(bobClient.messages().filter((e) => e.data.body === "during the cut")).toEqual([]);

  relay.release();
  relay.releaseReplies();
  for (let i = 0; i < 100 && (await upgradeAnswer(cutOff)).status === 503; i++) await Bun.sleep(100);
  expect((await upgradeAnswer(cutOff)).status).toBe(426); // takes WebSocket upgrades again
  const again = await connected(bob, cutOff);
  again.close();
  back.close();
  aliceClient.close();
});

test("a replica that reaches Redis again between two waves of shedding keeps the clients it has not sent away yet", async () => {
  const members = [await member(stack), await member(stack), await member(stack)];
  const clients: ChatClient[] = [];
  for (const m of members) clients.push(await connected(m, cutOff));
  relay.hold();
  relay.holdReplies();
  await clients[0]!.waitFor(() => clients.some((c) => c.closeCode !== null), 20_000, "the first wave of shedding");
  relay.release();
  relay.releaseReplies();
  for (let i = 0; i < 100 && (await upgradeAnswer(cutOff)).status === 503; i++) await Bun.sleep(100);
  // past the next wave (5 s after the first) and the one after it
  await Bun.sleep(11_000);
  expect(clients.filter((c) => c.closeCode === null).length).toBe(2);
  for (const c of clients) c.close();
});

test("when no other replica reaches Redis either (Redis is down for all), the replica keeps its clients rather than sending them nowhere", async () => {
  const sql = (await import("postgres")).default(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  try {
    const [carol, dave] = [await member(stack), await member(stack)];
    await conversation(carol, dave);
    await stack.kill(healthy);
    await sql`delete from chat_replica_health where replica <> 'chat-1'`;
    const client = await connected(carol, cutOff);
    relay.hold();
    relay.holdReplies();
    // past CHAT_REDIS_LOST_AFTER_SECONDS (3) and two probe rounds
    await Bun.sleep(9_000);
    expect(client.closeCode).toBeNull();
    relay.release();
    relay.releaseReplies();
    client.close();
  } finally {
    await sql.end();
  }
}, 60_000);
