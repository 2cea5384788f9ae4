/**
 * Groups across replicas: a block between two members of a group hides each one's messages from
 * the other (live, in history, in the list's preview), and a member who leaves gets nothing more —
 * on every replica and the api at once, whatever their membership caches held.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startStack, type Stack } from "../harness/stack.ts";
import type { ChatClient } from "../harness/chat-client.ts";
import { connected, member, type TestMember } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 2 });
}, 60_000);
afterAll(() => stack?.stop());

async function group(owner: TestMember, ...others: TestMember[]): Promise<string> {
  const res = await owner.http.post("/api/conversations", { handles: others.map((o) => o.handle), title: "crew" });
  expect(res.status).toBe(201);
  return res.json.conversation.id;
}

const bodiesOf = (c: ChatClient) => c.messages().map((m) => (m.data as { body: string }).body);

describe("a block inside a group", () => {
  test("hides each one's messages from the other, live, in history and in the preview; the rest of the group sees all", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const [a, b, c] = [await member(stack), await member(stack), await member(stack)];
    const conv = await group(a, b, c);
    const [a1, b1, c1] = [await connected(a, r1), await connected(b, r2), await connected(c, r2)];
    // every cache holds the group before the block
    expect((await a1.sendMessage(conv, "before")).type).toBe("sent");
    for (const x of [b1, c1]) await x.waitFor(() => bodiesOf(x).includes("before"), 5000, "before");

    expect((await c.http.post(`/api/users/${a.handle}/block`)).status).toBe(200);
    // The block is announced to every replica over pub/sub and applies there once heard: a's
    // replica computes who gets a's messages, and nothing here can tell when it heard. Milliseconds
    // apart on an idle machine; a loaded one (a CI run beside other work) once sent a's next frame first.
    await Bun.sleep(250);
    expect((await a1.sendMessage(conv, "from a, after")).type).toBe("sent");
    expect((await c1.sendMessage(conv, "from c, after")).type).toBe("sent");
    expect((await b1.sendMessage(conv, "from b, after")).type).toBe("sent");
    await b1.waitFor(() => ["from a, after", "from c, after", "from b, after"].every((t) => bodiesOf(b1).includes(t)), 5000, "b sees everything");
    await a1.waitFor(() => bodiesOf(a1).includes("from b, after"), 5000, "b's message at a");
    await c1.waitFor(() => bodiesOf(c1).includes("from b, after"), 5000, "b's message at c");
    await Bun.sleep(300);
    expect(bodiesOf(c1)).not.toContain("from a, after");
    expect(bodiesOf(a1)).not.toContain("from c, after");

    const history = async (m: TestMember) => ((await m.http.get(`/api/conversations/${conv}/messages`)).json.messages as { body: string }[]).map((x) => x.body);
    // (what a wrote before the block too: c chose not to see a)
    expect(await history(c)).toEqual(["from b, after", "from c, after"]);
    expect(await history(b)).toEqual(["from b, after", "from c, after", "from a, after", "before"]);
    // the preview is the last message c may see, and the group keeps that message's place: a
    // conversation with newer visible activity stays above it however much a writes
    const d = await member(stack);
    const direct = (await d.http.post("/api/conversations", { handles: [c.handle] })).json.conversation.id as string;
    expect((await d.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: direct, body: "from d" })).status).toBe(200);
    expect((await a1.sendMessage(conv, "a again")).type).toBe("sent");
    const list = (await c.http.get("/api/conversations")).json.conversations as { id: string; lastMessage: { body: string } }[];
    expect(list.find((x) => x.id === conv)!.lastMessage.body).toBe("from b, after");
    expect(list.map((x) => x.id).slice(0, 2)).toEqual([direct, conv]);
    // over HTTP too (the api's cache heard of the block as the replicas did)
    const viaHttp = await a.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "a over http" });
    expect(viaHttp.status).toBe(200);
    await b1.waitFor(() => bodiesOf(b1).includes("a over http"), 5000, "http send at b");
    await Bun.sleep(300);
    expect(bodiesOf(c1)).not.toContain("a over http");

    // an unblock shows what comes next again
    expect((await c.http.request("DELETE", `/api/users/${a.handle}/block`)).status).toBe(200);
    expect((await a1.sendMessage(conv, "after the unblock")).type).toBe("sent");
    await c1.waitFor(() => bodiesOf(c1).includes("after the unblock"), 5000, "after the unblock at c");
    for (const x of [a1, b1, c1]) x.close();
  });
});

describe("leaving a group", () => {
  test("the member gets nothing more on any replica, cannot send, and everyone hears of it", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const [a, b, c] = [await member(stack), await member(stack), await member(stack)];
    const conv = await group(a, b, c);
    const [a1, b1, b2, c1] = [await connected(a, r1), await connected(b, r2), await connected(b, r1), await connected(c, r2)];
    expect((await a1.sendMessage(conv, "before")).type).toBe("sent");
    for (const x of [b1, c1]) await x.waitFor(() => bodiesOf(x).includes("before"), 5000, "before");
    expect((await b1.sendMessage(conv, "b before")).type).toBe("sent"); // b's replica caches the group too

    // b sees a online (a wrote here), from the list b's second replica now caches
    const aboutA = (x: typeof a1) => x.frames.filter((f) => f.type === "presence" && f.userId === a.id).length;
    b2.send({ type: "presence", userIds: [a.id] });
    await b2.waitFor(() => aboutA(b2) === 1, 5000, "a online for b");

    expect((await b.http.post(`/api/conversations/${conv}/leave`)).status).toBe(200);
    const left = (x: typeof a1) => x.events.some((e) => e.kind === "conversation" && e.data.change === "left" && e.data.userId === b.id && e.data.conversationId === conv);
    for (const x of [a1, b1, b2, c1]) await x.waitFor(() => left(x), 5000, "left event");

    expect((await a1.sendMessage(conv, "after b left")).type).toBe("sent");
    await c1.waitFor(() => bodiesOf(c1).includes("after b left"), 5000, "at c");
    await Bun.sleep(300);
    for (const x of [b1, b2]) expect(bodiesOf(x)).not.toContain("after b left");
    // b shares nothing with a any more: a's presence is not b's to see, on any replica, cache or not
    b2.send({ type: "presence", userIds: [a.id] });
    b2.send({ type: "ping", ts: 9 });
    await b2.waitFor(() => b2.frames.some((f) => f.type === "pong" && f.ts === 9), 5000, "pong");
    await Bun.sleep(200);
    expect(aboutA(b2)).toBe(1);
    const refused = await b1.sendMessage(conv, "b after leaving");
    expect(refused.code).toBe("not_member");
    expect((await b.http.get(`/api/conversations/${conv}/messages`)).status).toBe(403);
    expect(((await b.http.get("/api/conversations")).json.conversations as { id: string }[]).map((x) => x.id)).not.toContain(conv);
    expect((await b.http.post(`/api/conversations/${conv}/leave`)).status).toBe(404);
    for (const x of [a1, b1, b2, c1]) x.close();
  });

  test("a conversation between two members cannot be left", async () => {
    const [a, b] = [await member(stack), await member(stack)];
    const res = await a.http.post("/api/conversations", { handles: [b.handle] });
    const left = await a.http.post(`/api/conversations/${res.json.conversation.id}/leave`);
    expect(left.status).toBe(400);
    expect(left.json.error.code).toBe("direct_conversation");
  });
});
