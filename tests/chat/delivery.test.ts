import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRedis, redisKeys, type Redis } from "@xplicit/shared/redis";
import { ChatClient, type Frame } from "../harness/chat-client.ts";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, duplicateSeqs, member, resumedFromStoredAck, wsUrl } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 3, env: { CHAT_REPLAY_MAX_EVENTS: "50", CHAT_RATE_PER_SECOND: "500", CHAT_RATE_BURST: "500" } });
}, 60_000);
afterAll(() => {
  stack?.stop();
  commands?.disconnect();
});

let commands: Redis | undefined;
function stackRedis(): Redis {
  return (commands ??= createRedis(process.env.REDIS_URL!, "delivery-test"));
}

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
    // replicas write acks to Redis once a second: wait for it rather than for a second
    const keys = redisKeys(process.env.REDIS_PREFIX!);
    // (stored as `seq:epoch`)
    const storedAck = async () => String(await stackRedis().hget(keys.memberAcks(b.id), b1.clientId));
    for (let i = 0; i < 100 && !(Number((await storedAck()).split(":")[0]) >= b1.cursor); i++) await Bun.sleep(100);
    expect(await storedAck()).toBe(`${b1.cursor}:${b1.epoch}`);
    b1.close();
    await b1.closed();
    await a1.sendMessage(conv, "two");
    expect(await resumedFromStoredAck(b, r3, b1.clientId, 1)).toEqual(["two"]);
    a1.close();
  });
});

describe("a sender's own events", () => {
  /** Event frames published on each of the given members' channels, from now on. */
  async function channelWatch(...userIds: string[]) {
    const keys = redisKeys(process.env.REDIS_PREFIX!);
    const sub = createRedis(process.env.REDIS_URL!, "delivery-test:watch");
    const seen = new Map<string, number[]>(userIds.map((id) => [keys.memberChannel(id), []]));
    sub.on("message", (channel: string, text: string) => {
      if (text.startsWith('{"type":"event"')) seen.get(channel)?.push(JSON.parse(text).seq);
    });
    await sub.subscribe(...seen.keys());
    return { published: (userId: string) => seen.get(keys.memberChannel(userId))!, close: () => sub.disconnect() };
  }

  test("are published only while another replica holds one of the sender's sockets; the sender's sockets here get them from the replica, once", async () => {
    const [r1, r2] = stack.chats as [any, any];
    const keys = redisKeys(process.env.REDIS_PREFIX!);
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const a1 = await connected(a, r1);
    const b2 = await connected(b, r2);
    const watch = await channelWatch(a.id, b.id);
    const everyoneHas = async (clients: ChatClient[], messageId: string) => {
      for (const c of clients) await c.waitFor(() => c.messages().some((m) => m.data.messageId === messageId), 5000, `message ${messageId}`);
    };

    // A's only socket is here: nothing on A's channel, B's gets the message.
    const one = await a1.sendMessage(conv, "one");
    await everyoneHas([a1, b2], one.messageId);
    // A second socket of A on the same replica is written to by the replica itself.
    const a1b = await connected(a, r1);
    const two = await a1.sendMessage(conv, "two");
    await everyoneHas([a1, a1b, b2], two.messageId);
    for (let i = 0; i < 50 && watch.published(b.id).length < 2; i++) await Bun.sleep(20);
    await Bun.sleep(200);
    expect(watch.published(a.id)).toEqual([]);
    expect(watch.published(b.id).length).toBe(2);

    // A socket of A on another replica: published, and every socket has it once.
    const a2 = await connected(a, r2);
    const three = await a1.sendMessage(conv, "three");
    await everyoneHas([a1, a1b, a2, b2], three.messageId);
    // the watch's own subscription may hear the publish a moment after r2 did
    for (let i = 0; i < 50 && watch.published(a.id).length === 0; i++) await Bun.sleep(20);
    expect(watch.published(a.id)).toEqual([three.seq]);

    // That socket gone (and the replica's presence for A with it): quiet again.
    a2.close();
    for (let i = 0; i < 50 && (await stackRedis().hlen(keys.presence(a.id))) !== 1; i++) await Bun.sleep(100);
    const four = await a1.sendMessage(conv, "four");
    await everyoneHas([a1, a1b, b2], four.messageId);
    await Bun.sleep(200);
    expect(watch.published(a.id)).toEqual([three.seq]);
    for (const c of [a1, a1b, b2]) {
      expect(duplicateSeqs(c)).toEqual([]);
      expect(c.messages().map((m) => m.data.body)).toEqual(c === b2 || c === a1 ? ["one", "two", "three", "four"] : ["two", "three", "four"]);
    }
    watch.close();
    for (const c of [a1, a1b, b2]) c.close();
  });

  test("sockets of the sender opening on other replicas during a burst of its sends miss none of them", async () => {
    const [r1, r2, r3] = stack.chats as [any, any, any];
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const a1 = await connected(a, r1);
    const late: ChatClient[] = [];
    const sends: Promise<Frame>[] = [];
    for (let i = 0; i < 120; i++) {
      sends.push(a1.sendMessage(conv, `burst ${i}`));
      if (i % 20 === 10) late.push(await connected(a, i % 40 === 10 ? r2 : r3));
      if (i % 5 === 0) await Bun.sleep(1);
    }
    const head = Math.max(...(await Promise.all(sends)).map((answer) => Number(answer.seq ?? 0)));
    for (const c of [a1, ...late]) {
      // each starts at the head it is welcomed with: from there on, every event once, in order (the
      // sending socket too: its own events come from its replica)
      const from: number = c.frames.find((f) => f.type === "welcome")!.cursor;
      await c.waitFor(() => c.cursor === head, 5000, `socket at seq ${head}`);
      expect(c.events.map((e) => e.seq)).toEqual(Array.from({ length: head - from }, (_, k) => from + 1 + k));
    }
    for (const c of [a1, ...late]) c.close();
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
