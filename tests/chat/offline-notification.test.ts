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
