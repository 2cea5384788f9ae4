import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ChatClient } from "../harness/chat-client.ts";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, duplicateSeqs, member, resumedFromStoredAck, wsUrl } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 3, env: { CHAT_REPLAY_MAX_EVENTS: "50", CHAT_RATE_PER_SECOND: "500", CHAT_RATE_BURST: "500" } });
}, 60_000);
afterAll(() => stack?.stop());

describe("cross-replica delivery", () => {
  test("A on replica 1 → B on replicas 2 and 3 once each, A's other client once, sent carries the server id", async () => {
    const [r1, r2, r3] = stack.chats as [any, any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const a1 = await connected(a, r1);
    const a2 = await connected(a, r2);
    const b2 = await connected(b, r2);
    const b3 = await connected(b, r3);

    const sent = await a1.sendMessage(conv, "hello across replicas");
    expect(sent.type).toBe("sent");
    expect(sent.messageId).toMatch(/^\d+$/);
    expect(sent.conversationId).toBe(conv);
    expect(sent.seq).toBeGreaterThan(0);

    for (const c of [b2, b3, a2, a1]) {
      await c.waitFor(() => c.messages().some((m) => m.data.messageId === sent.messageId), 5000, "message");
    }
    await Bun.sleep(300);
    for (const c of [b2, b3, a2, a1]) {
      expect(c.messages().filter((m) => m.data.messageId === sent.messageId).length).toBe(1);
      expect(duplicateSeqs(c)).toEqual([]);
    }
    const msg = b2.messages()[0]!;
    expect(msg.data).toMatchObject({ body: "hello across replicas", senderId: a.id, clientMsgId: sent.id, conversationId: conv });
    for (const c of [a1, a2, b2, b3]) c.close();
  });

  test("the same send id 5 times, also across a reconnect, gives one row and 5 identical answers", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const id = crypto.randomUUID();
    const a1 = await connected(a, r1);
    const answers = [];
    for (let i = 0; i < 3; i++) {
      a1.frames = a1.frames.filter((f) => f.type !== "sent");
      answers.push(await a1.sendMessage(conv, "only once", id));
    }
    a1.close();
    const again = await connected(a, r2, a1.clientId);
    for (let i = 0; i < 2; i++) {
      again.frames = again.frames.filter((f) => f.type !== "sent");
      answers.push(await again.sendMessage(conv, "only once", id));
    }
    const strip = ({ type: _t, ...rest }: any) => rest;
    for (const ans of answers) expect(strip(ans)).toEqual(strip(answers[0]));
    const history = await b.http.get(`/api/conversations/${conv}/messages`);
    expect(history.json.messages.filter((m: any) => m.clientMsgId === id).length).toBe(1);
    // Over HTTP too.
    const viaHttp = await a.http.post("/api/messages", { id, conversationId: conv, body: "only once" });
    expect(strip(viaHttp.json)).toEqual(strip(answers[0]));
    // The same id for another conversation is refused, and nothing is written there.
    const other = await conversation(a, await member(stack));
    again.frames = again.frames.filter((f) => f.type !== "sent");
    const reused = await again.sendMessage(other, "reused id", id);
    expect(reused.code).toBe("id_conflict");
    expect((await a.http.get(`/api/conversations/${other}/messages`)).json.messages).toEqual([]);
    again.close();
  });

  test("a message persisted while B is offline and its replica is SIGKILLed is replayed exactly once, in order, on another replica", async () => {
    const [r1, r2, r3] = stack.chats as [any, any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const a1 = await connected(a, r1);
    const b2 = await connected(b, r2);
    await a1.sendMessage(conv, "before");
    await b2.waitFor(() => b2.messages().length === 1, 5000, "first message");
    await b2.waitFor(() => true);
    const cursor = b2.cursor;
    const epoch = b2.epoch;
    b2.close();
    await b2.closed();

    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await a1.sendMessage(conv, `m${i}`)).messageId);
    await stack.kill(r2, "SIGKILL");

    const b3 = new ChatClient(wsUrl(r3), b.cookie, b2.clientId);
    b3.cursor = cursor;
    b3.epoch = epoch;
    await b3.connect();
    await b3.hello();
    await b3.waitFor(() => b3.messages().length >= 20, 5000, "20 messages");
    await Bun.sleep(200);
    expect(b3.messages().map((m) => m.data.messageId)).toEqual(ids);
    expect(b3.messages().map((m) => m.data.body)).toEqual(ids.map((_, i) => `m${i}`));
    expect(duplicateSeqs(b3)).toEqual([]);
    b3.close();
    await stack.restart(r2);
    a1.close();
  }, 60_000);

  test("beyond the replay window B gets resync, and HTTP history has every message", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const b1 = await connected(b, r2);
    const cursor = b1.cursor;
    const epoch = b1.epoch;
    b1.close();
    const a1 = await connected(a, r1);
    for (let i = 0; i < 60; i++) await a1.sendMessage(conv, `bulk ${i}`);
    const late = new ChatClient(wsUrl(r2), b.cookie, b1.clientId);
    late.cursor = cursor;
    late.epoch = epoch;
    await late.connect();
    await late.hello();
    const resync = late.frames.find((f) => f.type === "resync");
    expect(resync?.reason).toBe("window_exceeded");
    expect(late.messages().length).toBe(0);

    const all: string[] = [];
    let before: string | null = null;
    do {
      const page: any = await b.http.get(`/api/conversations/${conv}/messages?limit=25${before ? `&before=${before}` : ""}`);
      all.push(...page.json.messages.map((m: any) => m.body));
      before = page.json.nextBefore;
    } while (before);
    expect(all.length).toBe(60);
    expect(new Set(all).size).toBe(60);

    // And the stream continues live after the resync.
    await a1.sendMessage(conv, "after resync");
    await late.waitFor(() => late.messages().some((m) => m.data.body === "after resync"), 5000, "live after resync");
    late.close();
    a1.close();
  }, 60_000);

  test("the stored ack lets a client resume on any replica without sending its cursor", async () => {
    const [r1, r2, r3] = stack.chats as [any, any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const b1 = await connected(b, r1);
    const a1 = await connected(a, r2);
    await a1.sendMessage(conv, "one");
    await b1.waitFor(() => b1.messages().length === 1, 5000, "one");
    await Bun.sleep(1300); // acks are flushed every second
    b1.close();
    await b1.closed();
    await a1.sendMessage(conv, "two");
    expect(await resumedFromStoredAck(b, r3, b1.clientId, 1)).toEqual(["two"]);
    a1.close();
  });
});

describe("operator view of a replica", () => {
  test("/status has the replica's counters and pub/sub probe; /metrics has the chat series", async () => {
    const r = stack.chats[0]!;
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const c = await connected(a, r);
    const id = crypto.randomUUID();
    await c.sendMessage(conv, "counted", id);
    c.frames = c.frames.filter((f) => f.type !== "sent");
    await c.sendMessage(conv, "counted", id);
    const status = await (await fetch(`${r.url}/status`)).json();
    expect(status.service).toBe("backend-chat");
    expect(status.sockets).toBeGreaterThanOrEqual(1);
    expect(status.members).toBeGreaterThanOrEqual(1);
    for (const key of ["channels", "framesInPerSecond", "framesOutPerSecond", "replica", "draining"]) expect(status).toHaveProperty(key);
    expect(status.pubsub.lastOkAgoMs).toBeLessThan(10_000);
    expect(typeof status.pubsub.rttMs).toBe("number");
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    for (const series of ["chat_sockets", "chat_frames_in_total", "chat_frames_out_total", "chat_delivery_latency_seconds_bucket", "chat_resume_total"]) {
      expect(metrics).toContain(series);
    }
    expect(Number(/chat_send_dedup_hits_total(?:\{[^}]*\})? (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    // frame counters by type: this replica saw at least this client's hello and two sends, and answered both
    const framesOf = (series: string, type: string) => Number(new RegExp(`${series}\\{[^}]*type="${type}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    expect(framesOf("chat_frames_in_total", "hello")).toBeGreaterThanOrEqual(1);
    expect(framesOf("chat_frames_in_total", "send")).toBeGreaterThanOrEqual(2);
    expect(framesOf("chat_frames_out_total", "sent")).toBeGreaterThanOrEqual(2);
    c.close();
  });
});
