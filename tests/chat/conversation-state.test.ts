import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, member, talking } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 2 });
}, 60_000);
afterAll(() => stack?.stop());

describe("read, typing, presence", () => {
  test("in a conversation of two, a member who blocked the other reads without telling them (the reader's own clients still hear)", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await talking(a, b);
    const a1 = await connected(a, r1);
    const a2 = await connected(a, r2);
    const b1 = await connected(b, r2);
    const early = await b1.sendMessage(conv, "before the block");
    await a1.waitFor(() => a1.messages().some((m) => m.data.messageId === early.messageId), 5000, "message");
    expect((await a.http.post(`/api/users/${b.handle}/block`)).status).toBe(200);
    a1.send({ type: "read", conversationId: conv, upToMessageId: early.messageId });
    await a2.waitFor(() => a2.events.some((e) => e.kind === "read" && e.data.upToMessageId === early.messageId), 5000, "read at the reader's other client");
    await Bun.sleep(300);
    expect(b1.events.filter((e) => e.kind === "read" && e.data.userId === a.id)).toEqual([]);
  });

  test("read state reaches the reader's other client and the other participant, in the seq stream", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await talking(a, b);
    const a1 = await connected(a, r1);
    const b1 = await connected(b, r1);
    const b2 = await connected(b, r2);
    const sent = await a1.sendMessage(conv, "read me");
    await b1.waitFor(() => b1.messages().some((m) => m.data.messageId === sent.messageId), 5000, "message");
    b1.send({ type: "read", conversationId: conv, upToMessageId: sent.messageId });
    for (const c of [b2, a1]) {
      await c.waitFor(() => c.events.some((e) => e.kind === "read" && e.data.upToMessageId === sent.messageId), 5000, "read event");
    }
    const list = await b.http.get("/api/conversations");
    expect(list.json.conversations[0].lastReadMessageId).toBe(sent.messageId);
    for (const c of [a1, b1, b2]) c.close();
  });

  test("a read marker goes only to those who may see the reader: not to a stranger the reader never answered", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const [stranger, reader] = [await member(stack), await member(stack)];
    const conv = await conversation(stranger, reader);
    const s1 = await connected(stranger, r1);
    const v1 = await connected(reader, r2);
    const v2 = await connected(reader, r1);
    const first = await s1.sendMessage(conv, "hello there");
    await v1.waitFor(() => v1.messages().length === 1, 5000, "message");
    v1.send({ type: "read", conversationId: conv, upToMessageId: first.messageId });
    await v2.waitFor(() => v2.events.some((e) => e.kind === "read"), 5000, "the reader's other client hears it");
    s1.send({ type: "ping", ts: 3 });
    await s1.waitFor(() => s1.frames.some((f) => f.type === "pong"), 5000, "pong");
    expect(s1.events.some((e) => e.kind === "read")).toBe(false);
    const seenBy = async () => ((await stranger.http.get(`/api/conversations/${conv}`)).json.conversation.members as { id: string; lastReadMessageId: string }[]).find((m) => m.id === reader.id)!.lastReadMessageId;
    expect(await seenBy()).toBe("0");
    // once the reader answers, their reads are shown
    const answer = await v1.sendMessage(conv, "hi back");
    const second = await s1.sendMessage(conv, "how are you?");
    await v1.waitFor(() => v1.messages().length === 3, 5000, "second message");
    v1.send({ type: "read", conversationId: conv, upToMessageId: second.messageId });
    await s1.waitFor(() => s1.events.some((e) => e.kind === "read" && e.data.upToMessageId === second.messageId), 5000, "read after answering");
    expect(await seenBy()).toBe(second.messageId);
    expect(answer.type).toBe("sent");
    for (const c of [s1, v1, v2]) c.close();
  });

  test("typing reaches the other participant only, and is not replayed", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const a1 = await connected(a, r1);
    const b1 = await connected(b, r2);
    a1.send({ type: "typing", conversationId: conv });
    await b1.waitFor(() => b1.frames.some((f) => f.type === "typing" && f.userId === a.id), 5000, "typing");
    expect(b1.events.some((e) => e.kind === "typing")).toBe(false);
    await Bun.sleep(200);
    expect(a1.frames.some((f) => f.type === "typing")).toBe(false);
    for (const c of [a1, b1]) c.close();
  });

  test("typing does not cross a block, on any replica, and crosses again after the unblock", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await talking(a, b);
    const a1 = await connected(a, r1);
    const b1 = await connected(b, r2);
    const typingFrom = (c: typeof a1, id: string) => c.frames.filter((f) => f.type === "typing" && f.userId === id).length;
    b1.send({ type: "typing", conversationId: conv });
    await a1.waitFor(() => typingFrom(a1, b.id) === 1, 5000, "typing before the block");
    expect((await a.http.post(`/api/users/${b.handle}/block`)).status).toBe(200);
    await Bun.sleep(1600); // past the socket's typing throttle
    b1.send({ type: "typing", conversationId: conv });
    a1.send({ type: "typing", conversationId: conv });
    await Bun.sleep(500);
    expect(typingFrom(a1, b.id)).toBe(1);
    expect(typingFrom(b1, a.id)).toBe(0);
    expect((await a.http.del(`/api/users/${b.handle}/block`)).status).toBe(200);
    await Bun.sleep(1600);
    b1.send({ type: "typing", conversationId: conv });
    await a1.waitFor(() => typingFrom(a1, b.id) === 2, 5000, "typing after the unblock");
    for (const c of [a1, b1]) c.close();
  });

  test("presence: a partner sees online/offline, strangers are not visible", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const stranger = await member(stack);
    await talking(a, b);
    const b1 = await connected(b, r2);
    const a1 = await connected(a, r1);
    await b1.waitFor(() => b1.frames.some((f) => f.type === "presence" && f.userId === a.id && f.online === true), 5000, "online");
    b1.send({ type: "presence", userIds: [a.id, stranger.id] });
    await b1.waitFor(() => b1.frames.filter((f) => f.type === "presence" && f.userId === a.id).length >= 2, 5000, "query answer");
    expect(b1.frames.some((f) => f.type === "presence" && f.userId === stranger.id)).toBe(false);
    a1.close();
    await b1.waitFor(() => b1.frames.some((f) => f.type === "presence" && f.userId === a.id && f.online === false), 5000, "offline");
    b1.close();
  });

  test("presence: who writes to a member, or adds them to a group, does not see them online until they answer", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const [writer, target, third] = [await member(stack), await member(stack), await member(stack)];
    const direct = await conversation(writer, target);
    await conversation(writer, target, third); // a group, made by the writer too
    const t1 = await connected(target, r2);
    const w1 = await connected(writer, r1);
    const about = (c: typeof w1, id: string) => c.frames.filter((f) => f.type === "presence" && f.userId === id);
    // the target sees the writer (who engaged); the writer hears nothing of the target
    await t1.waitFor(() => about(t1, writer.id).some((f) => f.online === true), 5000, "writer online for target");
    w1.send({ type: "presence", userIds: [target.id] });
    w1.send({ type: "ping", ts: 1 });
    await w1.waitFor(() => w1.frames.some((f) => f.type === "pong"), 5000, "pong");
    await Bun.sleep(200);
    expect(about(w1, target.id)).toHaveLength(0);
    t1.send({ type: "typing", conversationId: direct });
    await Bun.sleep(300);
    expect(w1.frames.some((f) => f.type === "typing")).toBe(false);
    // the target answers: the writer is told at once that the target is online, and typing shows
    expect((await t1.sendMessage(direct, "hello back")).type).toBe("sent");
    await w1.waitFor(() => about(w1, target.id).some((f) => f.online === true), 5000, "target online for writer after the answer");
    await Bun.sleep(1600);
    t1.send({ type: "typing", conversationId: direct });
    await w1.waitFor(() => w1.frames.some((f) => f.type === "typing" && f.userId === target.id), 5000, "typing after the answer");
    // the third member of the group never wrote: nobody sees them
    const th = await connected(third, r1);
    w1.send({ type: "presence", userIds: [third.id] });
    t1.send({ type: "presence", userIds: [third.id] });
    await Bun.sleep(300);
    expect(about(w1, third.id)).toHaveLength(0);
    expect(about(t1, third.id)).toHaveLength(0);
    for (const c of [w1, t1, th]) c.close();
  });

  test("presence: a block tells nothing to the blocked member when they could not see the blocker", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const [writer, target] = [await member(stack), await member(stack)];
    await conversation(writer, target); // the target never answered: the writer cannot see them
    const t1 = await connected(target, r2);
    const w1 = await connected(writer, r1);
    await t1.waitFor(() => t1.frames.some((f) => f.type === "presence" && f.userId === writer.id && f.online), 5000, "writer online for the target");
    expect((await target.http.post(`/api/users/${writer.handle}/block`)).status).toBe(200);
    // the target, who could see the writer, is told the writer is gone; the writer hears nothing
    await t1.waitFor(() => t1.frames.some((f) => f.type === "presence" && f.userId === writer.id && f.online === false), 5000, "writer offline for the target");
    w1.send({ type: "ping", ts: 2 });
    await w1.waitFor(() => w1.frames.some((f) => f.type === "pong"), 5000, "pong");
    expect(w1.frames.filter((f) => f.type === "presence" && f.userId === target.id)).toHaveLength(0);
    for (const c of [w1, t1]) c.close();
  });

  test("presence: a block hides each member's online state from the other at once, on every replica; an unblock shows it again", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const friend = await member(stack); // a partner of both: a query's answer about them shows the query was answered
    await talking(a, b);
    await talking(a, friend);
    await talking(b, friend);
    const f1 = await connected(friend, r1);
    const b1 = await connected(b, r2);
    const a1 = await connected(a, r1);
    const about = (c: typeof a1, id: string) => c.frames.filter((f) => f.type === "presence" && f.userId === id);
    const answered = async (c: typeof a1, other: string) => {
      const before = about(c, friend.id).length;
      c.send({ type: "presence", userIds: [other, friend.id] });
      await c.waitFor(() => about(c, friend.id).length > before, 5000, "the query's answer");
    };
    await b1.waitFor(() => about(b1, a.id).some((f) => f.online === true), 5000, "a online");
    // both sides asked once before the block, so their partner lists are cached on both replicas
    a1.send({ type: "presence", userIds: [b.id] });
    await a1.waitFor(() => about(a1, b.id).some((f) => f.online === true), 5000, "b online");

    expect((await b.http.post(`/api/users/${a.handle}/block`)).status).toBe(200);
    await a1.waitFor(() => about(a1, b.id).at(-1)?.online === false, 5000, "b shown offline to a");
    await b1.waitFor(() => about(b1, a.id).at(-1)?.online === false, 5000, "a shown offline to b");
    const [seenByA, seenByB] = [about(a1, b.id).length, about(b1, a.id).length];
    await answered(a1, b.id);
    await answered(b1, a.id);
    const a2 = await connected(a, r2); // on b's replica too
    await answered(a2, b.id);
    expect(about(a1, b.id).length).toBe(seenByA);
    expect(about(b1, a.id).length).toBe(seenByB);
    expect(about(a2, b.id)).toHaveLength(0);

    // the unblock itself shows each one's state to the other at once, on every replica, unasked
    expect((await b.http.del(`/api/users/${a.handle}/block`)).status).toBe(200);
    await a1.waitFor(() => about(a1, b.id).at(-1)?.online === true, 5000, "b online again for a");
    await a2.waitFor(() => about(a2, b.id).at(-1)?.online === true, 5000, "b online again for a's second client");
    await b1.waitFor(() => about(b1, a.id).at(-1)?.online === true, 5000, "a online again for b");
    a1.send({ type: "presence", userIds: [b.id] });
    await a1.waitFor(() => about(a1, b.id).filter((f) => f.online).length >= 2, 5000, "b online in a's query's answer");
    for (const c of [a1, a2, b1, f1]) c.close();
  });

  test("presence: a block or unblock tells nothing to a member who shares no conversation with the other", async () => {
    const [r1] = stack.chats as [any, any];
    const a = await member(stack);
    const stranger = await member(stack);
    const friend = await member(stack);
    await talking(a, friend);
    const a1 = await connected(a, r1);
    const s1 = await connected(stranger, r1);
    expect((await stranger.http.post(`/api/users/${a.handle}/block`)).status).toBe(200);
    expect((await stranger.http.del(`/api/users/${a.handle}/block`)).status).toBe(200);
    // a later frame on a's socket proves the block's and unblock's frames (if any) came before it
    const f1 = await connected(friend, r1);
    await a1.waitFor(() => a1.frames.some((f) => f.type === "presence" && f.userId === friend.id && f.online), 5000, "friend online");
    expect(a1.frames.some((f) => f.type === "presence" && f.userId === stranger.id)).toBe(false);
    expect(s1.frames.some((f) => f.type === "presence" && f.userId === a.id)).toBe(false);
    for (const c of [a1, s1, f1]) c.close();
  });

  test("conversations: keyset pages by latest activity, one by id, and how many have unread messages", async () => {
    const me = await member(stack);
    const others = [await member(stack), await member(stack), await member(stack)];
    const ids: string[] = [];
    for (const o of others) ids.push(await conversation(me, o));
    // activity: the first conversation gets the newest message (from its other member)
    const hello = await others[0]!.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: ids[0], body: "newest" });
    expect(hello.status).toBe(200);
    const p1 = await me.http.get("/api/conversations?limit=2");
    expect(p1.json.conversations.map((c: { id: string }) => c.id)).toEqual([ids[0], ids[2]]);
    const p2 = await me.http.get(`/api/conversations?limit=2&before=${p1.json.nextBefore}`);
    expect(p2.json.conversations.map((c: { id: string }) => c.id)).toEqual([ids[1]]);
    expect(p2.json.nextBefore).toBeNull();
    expect((await me.http.get("/api/conversations?before=junk")).status).toBe(400);

    const one = await me.http.get(`/api/conversations/${ids[1]}`);
    expect(one.json.conversation.id).toBe(ids[1]);
    expect(one.json.conversation.members.map((m: { id: string }) => m.id).sort()).toEqual([me.id, others[1]!.id].sort());
    expect((await others[0]!.http.get(`/api/conversations/${ids[1]}`)).status).toBe(404);

    expect((await me.http.get("/api/conversations/unread-count")).json).toEqual({ unread: 1 });
    expect((await me.http.post(`/api/conversations/${ids[0]}/read`, { upToMessageId: hello.json.messageId })).status).toBe(200);
    expect((await me.http.get("/api/conversations/unread-count")).json).toEqual({ unread: 0 });
  });

  test("conversations: list, group creation limits, 1:1 is unique per pair", async () => {
    const a = await member(stack);
    const b = await member(stack);
    const c = await member(stack);
    const first = await a.http.post("/api/conversations", { handles: [b.handle] });
    expect(first.status).toBe(201);
    const again = await b.http.post("/api/conversations", { handles: [a.handle] });
    expect(again.status).toBe(200);
    expect(again.json.conversation.id).toBe(first.json.conversation.id);
    const group = await a.http.post("/api/conversations", { handles: [b.handle, c.handle], title: "trio" });
    expect(group.json.conversation.kind).toBe("group");
    expect((await a.http.post("/api/conversations", { handles: Array(50).fill(b.handle) })).status).toBe(400);
    expect((await a.http.post("/api/conversations", { handles: ["nobody_at_all_x"] })).status).toBe(404);
    const list = await c.http.get("/api/conversations");
    expect(list.json.conversations.map((x: any) => x.title)).toEqual(["trio"]);
    expect((await c.http.get(`/api/conversations/${first.json.conversation.id}/messages`)).status).toBe(403);
  });
});
