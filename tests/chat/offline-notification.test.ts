import { afterAll, beforeAll, expect, test } from "bun:test";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, member } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 1, worker: true });
}, 60_000);
afterAll(() => stack?.stop());

test("a message to a member with no open client becomes a notification; an online member gets none", async () => {
  const a = await member(stack);
  const offline = await member(stack);
  const online = await member(stack);
  const toOffline = await conversation(a, offline);
  const toOnline = await conversation(a, online);
  const onlineClient = await connected(online, stack.chats[0]!);
  const sender = await connected(a, stack.chats[0]!);
  await sender.sendMessage(toOffline, "are you there?");
  await sender.sendMessage(toOnline, "hi");

  let items: any[] = [];
  for (let i = 0; i < 50 && items.length === 0; i++) {
    items = (await offline.http.get("/api/notifications")).json.items ?? [];
    if (!items.length) await Bun.sleep(200);
  }
  expect(items.length).toBe(1);
  expect(items[0].type).toBe("message");
  await Bun.sleep(500);
  expect((await online.http.get("/api/notifications")).json.items ?? []).toEqual([]);
  onlineClient.close();
  sender.close();
}, 30_000);

test("a burst of messages to an offline member waits as one notification job, and the notification counts every message", async () => {
  const { Queue } = await import("bullmq");
  const { createRedis, redisKeys } = await import("@xplicit/shared/redis");
  const { QUEUES } = await import("@xplicit/shared/modules/notifications");
  const redis = createRedis(process.env.REDIS_URL!, "test-offline-burst");
  const notify = new Queue(QUEUES.notify, { connection: redis, prefix: redisKeys(process.env.REDIS_PREFIX!).bullPrefix() });
  try {
    const a = await member(stack);
    const offline = await member(stack);
    const conv = await conversation(a, offline);
    await stack.kill(stack.worker!); // the jobs wait, as they do behind a busy worker
    const sender = await connected(a, stack.chats[0]!);
    for (let i = 0; i < 30; i++) await sender.sendMessage(conv, `burst ${i}`);
    const waiting = (await notify.getJobs(["waiting", "prioritized", "delayed"])).filter((j) => j?.data.recipientId === offline.id);
    expect(waiting).toHaveLength(1);
    await stack.restart(stack.worker!);
    let items: any[] = [];
    for (let i = 0; i < 50 && !(items[0]?.count >= 30); i++) {
      items = (await offline.http.get("/api/notifications")).json.items ?? [];
      await Bun.sleep(200);
    }
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: "message", count: 30 });
    sender.close();
  } finally {
    await notify.close();
    redis.disconnect();
  }
}, 60_000);
