import { afterAll, beforeAll, expect, test } from "bun:test";
import { ChatClient } from "../harness/chat-client.ts";
import { startStack, type ServiceProcess, type Stack } from "../harness/stack.ts";
import { connected, conversation, duplicateSeqs, member, resumedFromStoredAck, talking, wsUrl, type TestMember } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 3, env: { CHAT_DRAIN_WAVE_SIZE: "40", CHAT_DRAIN_WAVE_MS: "100", CHAT_RATE_PER_SECOND: "500", CHAT_RATE_BURST: "500" } });
}, 60_000);
afterAll(() => stack?.stop());

/** A client that does what docs/protocol.md tells clients to do on 1012: come back elsewhere with its cursor. */
function resumeElsewhere(client: ChatClient, m: TestMember, replicas: ServiceProcess[], resumed: Set<ChatClient>) {
  const watch = () => {
    client.ws.addEventListener("close", async (e) => {
      if (e.code !== 1012) return;
      const reconnect = client.frames.findLast((f) => f.type === "reconnect");
      await Bun.sleep(reconnect?.afterMs ?? 100);
      const next = replicas[Math.floor(Math.random() * replicas.length)]!;
      const fresh = new ChatClient(wsUrl(next), m.cookie, client.clientId);
      Object.assign(client, { wsUrl: fresh.wsUrl });
      await client.connect();
      await client.hello();
      resumed.add(client);
      watch();
    });
  };
  watch();
}

test("SIGTERM on a replica with 200 clients: every client resumes on the others and no message sent during the drain is lost", async () => {
  const [r1, r2, r3] = stack.chats as [ServiceProcess, ServiceProcess, ServiceProcess];
  const sender = await member(stack);
  const members: TestMember[] = [];
  for (let i = 0; i < 50; i++) members.push(await member(stack));
  const convs: string[] = [];
  for (const m of members) convs.push(await conversation(sender, m));

  const clients: { client: ChatClient; m: TestMember }[] = [];
  for (const m of members) {
    for (let k = 0; k < 4; k++) clients.push({ client: await connected(m, r1), m });
  }
  expect(clients.length).toBe(200);
  const resumed = new Set<ChatClient>();
  for (const { client, m } of clients) resumeElsewhere(client, m, [r2, r3], resumed);

  const out = await connected(sender, r2);
  const sentBodies = new Map<string, string[]>();
  let sending = true;
  const pump = (async () => {
    let n = 0;
    while (sending) {
      const i = n % convs.length;
      const body = `drain ${n++}`;
      const answer = await out.sendMessage(convs[i]!, body);
      expect(answer.type).toBe("sent");
      sentBodies.set(convs[i]!, [...(sentBodies.get(convs[i]!) ?? []), body]);
    }
  })();

  await Bun.sleep(300);
  const exit = stack.kill(r1, "SIGTERM");
  // While it drains, the replica reports not-ready and takes no new sockets.
  let ready: number | string = 200;
  for (let i = 0; i < 200 && ready === 200; i++) {
    await Bun.sleep(10); // the signal reaches a busy replica's handler a moment later
    ready = await fetch(`${r1.url}/readyz`).then((res) => res.status).catch(() => "gone");
  }
  expect(ready).toBe(503);
  expect(await exit).toBe(0);
  // Keep sending until every client has come back, whatever the machine's speed.
  await Promise.all(clients.map(({ client }) => client.waitFor(() => resumed.has(client), 30_000, "resume")));
  const total = () => [...sentBodies.values()].reduce((s, l) => s + l.length, 0);
  while (total() < 20) await Bun.sleep(50);
  sending = false;
  await pump;

  for (const { client, m } of clients) {
    const conv = convs[members.indexOf(m)]!;
    const expected = sentBodies.get(conv) ?? [];
    await client.waitFor(() => client.messages().length >= expected.length, 10_000, `messages for ${m.handle}`);
    expect(client.messages().map((e) => e.data.body)).toEqual(expected);
    expect(duplicateSeqs(client)).toEqual([]);
    expect(client.frames.some((f) => f.type === "resync")).toBe(false);
  }
  expect(total()).toBeGreaterThanOrEqual(20);
  for (const { client } of clients) client.close();
  out.close();
  await stack.restart(r1);
}, 120_000);

test("a drained replica writes the acks it was holding: a client that comes back without its cursor resumes from them elsewhere", async () => {
  const [r1, r2] = stack.chats as [ServiceProcess, ServiceProcess];
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const b1 = await connected(b, r1);
  const a1 = await connected(a, r2);
  await a1.sendMessage(conv, "one");
  await b1.waitFor(() => b1.messages().length === 1, 5000, "one");
  await Bun.sleep(150); // b1's ack has reached r1, which writes acks once a second: most likely not yet
  expect(await stack.kill(r1, "SIGTERM")).toBe(0);
  await a1.sendMessage(conv, "two");
  expect(await resumedFromStoredAck(b, r2, b1.clientId, 1)).toEqual(["two"]);
  a1.close();
  await stack.restart(r1);
}, 60_000);

test("a drained replica's members stay online through it while their clients move; those who do not come back go offline once that time is up, and their partners are told", async () => {
  const [, r2, r3] = stack.chats as [ServiceProcess, ServiceProcess, ServiceProcess];
  const { createRedis, redisKeys } = await import("@xplicit/shared/redis");
  const redis = createRedis(process.env.REDIS_URL!, "drain-test:presence");
  const keys = redisKeys(process.env.REDIS_PREFIX!);
  try {
    // a sees the online state of b (who comes back elsewhere) and of c (who does not)
    const [a, b, c] = [await member(stack), await member(stack), await member(stack)];
    await talking(a, b);
    await talking(a, c);
    const watcher = await connected(a, r2);
    const [bClient, cClient] = [await connected(b, r3), await connected(c, r3)];
    const offlineFrames = (m: TestMember) => watcher.frames.filter((f) => f.type === "presence" && f.userId === m.id && f.online === false);
    const exited = stack.kill(r3, "SIGTERM");
    await bClient.waitFor(() => bClient.closeCode === 1012, 10_000, "b's socket drained");
    // the replica is draining and b has not come back yet: still online
    expect(await redis.exists(keys.online(b.id))).toBe(1);
    const back = await connected(b, r2);
    expect(await exited).toBe(0);
    expect(cClient.closeCode).toBe(1012);
    // the lingering time is up and the replica gone: c, who never came back, is offline, and a was told; b never went
    expect(await redis.exists(keys.online(c.id))).toBe(0);
    await watcher.waitFor(() => offlineFrames(c).length === 1, 5_000, "c offline");
    expect(await redis.exists(keys.online(b.id))).toBe(1);
    expect(offlineFrames(b)).toEqual([]);
    back.close();
    watcher.close();
  } finally {
    redis.disconnect();
    await stack.restart(r3);
  }
}, 60_000);
