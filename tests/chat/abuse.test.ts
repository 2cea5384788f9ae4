import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ORIGIN } from "../harness/api.ts";
import { ChatClient } from "../harness/chat-client.ts";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, member, talking, wsUrl, type TestMember } from "./fixtures.ts";

let stack: Stack;
const FANOUT_BURST = 100_000;
beforeAll(async () => {
  stack = await startStack({
    chatReplicas: 2,
    env: { CHAT_RATE_PER_SECOND: "50", CHAT_RATE_BURST: "100", CHAT_MEMBER_SENDS_PER_SECOND: "20", CHAT_FANOUT_BURST_BYTES: String(FANOUT_BURST), CHAT_FANOUT_BYTES_PER_SECOND: "2000" },
  });
}, 60_000);
afterAll(() => stack?.stop());

async function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(url.replace("ws", "http"), {
    headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers },
  });
  return res.status;
}

describe("upgrade checks", () => {
  test("foreign Origin, missing Origin, no cookie, bad cookie: 403 before upgrade", async () => {
    const a = await member(stack);
    const url = wsUrl(stack.chats[0]!);
    expect(await upgradeStatus(url, { Origin: "https://evil.example", Cookie: a.cookie })).toBe(403);
    expect(await upgradeStatus(url, { Cookie: a.cookie })).toBe(403);
    expect(await upgradeStatus(url, { Origin: ORIGIN })).toBe(403);
    expect(await upgradeStatus(url, { Origin: ORIGIN, Cookie: "__Host-sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })).toBe(403);
    expect(await upgradeStatus(url, { Origin: ORIGIN, Cookie: a.cookie })).toBe(101);
  });

  test("a plain request to /ws is 426 with a JSON error", async () => {
    const a = await member(stack);
    const res = await fetch(wsUrl(stack.chats[0]!).replace("ws", "http"), { headers: { Origin: ORIGIN, Cookie: a.cookie } });
    expect(res.status).toBe(426);
    expect((await res.json()).error.code).toBe("upgrade_required");
  });

  test("one member's sockets on a replica are capped (hello or not): the next upgrade gets 429 until one closes", async () => {
    const a = await member(stack);
    const replica = stack.chats[1]!;
    const open: ChatClient[] = [];
    for (let i = 0; i < 15; i++) open.push(await connected(a, replica));
    const silent = new ChatClient(wsUrl(replica), a.cookie);
    await silent.connect(); // no hello yet: it still counts
    expect(await upgradeStatus(wsUrl(replica), { Origin: ORIGIN, Cookie: a.cookie })).toBe(429);
    // another replica has its own count
    const elsewhere = await connected(a, stack.chats[0]!);
    open[0]!.close();
    silent.close();
    await open[0]!.closed(5000);
    await silent.closed(5000);
    let again: ChatClient | null = null;
    for (let i = 0; i < 50 && !again; i++) {
      if ((await upgradeStatus(wsUrl(replica), { Origin: ORIGIN, Cookie: a.cookie })) === 101) again = await connected(a, replica);
      else await Bun.sleep(100);
    }
    expect(again).not.toBeNull();
    for (const c of [...open, elsewhere, again!]) c.close();
  });

  test("a parallel burst of upgrades cannot get past the socket cap", async () => {
    const a = await member(stack);
    const replica = stack.chats[0]!;
    const clients = Array.from({ length: 24 }, () => new ChatClient(wsUrl(replica), a.cookie));
    await Promise.allSettled(clients.map((c) => c.connect()));
    await Bun.sleep(500);
    const open = clients.filter((c) => c.ws.readyState === WebSocket.OPEN);
    expect(open.length).toBeLessThanOrEqual(16);
    expect(open.length).toBeGreaterThan(0);
    for (const c of clients) c.close();
  });

  test("a revoked session closes its sockets with 1008 within seconds, other sessions stay", async () => {
    const a = await member(stack);
    const other = await member(stack);
    const victim = await connected(a, stack.chats[0]!);
    const victim2 = await connected(a, stack.chats[1]!);
    const bystander = await connected(other, stack.chats[0]!);
    await a.http.post("/api/auth/logout");
    expect(await victim.closed(5000)).toBe(1008);
    expect(await victim2.closed(5000)).toBe(1008);
    expect(bystander.closeCode).toBeNull();
    expect(await upgradeStatus(wsUrl(stack.chats[0]!), { Origin: ORIGIN, Cookie: a.cookie })).toBe(403);
    bystander.close();
  });
});

describe("bad frames", () => {
  test("garbage, unknown types, frames before hello and oversized frames get error frames; the socket and others live on", async () => {
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const bystander = await connected(b, stack.chats[0]!);

    const c = new ChatClient(wsUrl(stack.chats[0]!), a.cookie);
    await c.connect();
    c.send({ type: "send", id: crypto.randomUUID(), conversationId: conv, body: "too early" });
    await c.waitFor(() => c.frames.some((f) => f.code === "hello_required"), 3000, "hello_required");
    await c.hello();
    c.send("{not json");
    c.send("[1,2,3]");
    c.send(JSON.stringify({ type: "launch-missiles" }));
    c.send(JSON.stringify({ type: "send", id: "not-a-uuid", conversationId: conv, body: "x" }));
    c.send(JSON.stringify({ type: "send", id: crypto.randomUUID(), conversationId: "999999999", body: "x" }));
    c.send(JSON.stringify({ type: "hello", clientId: "again-again" }));
    c.send(JSON.stringify({ type: "send", id: crypto.randomUUID(), conversationId: conv, body: "x".repeat(70_000) }));
    // 30,000 characters that are 90,000 bytes: over the 64 KiB frame limit, which counts bytes
    c.send(JSON.stringify({ type: "send", id: crypto.randomUUID(), conversationId: conv, body: "\u20ac".repeat(30_000) }));
    c.ws.send(new Uint8Array([1, 2, 3]));
    const codes = ["bad_json", "unknown_type", "invalid", "not_member", "hello_twice", "frame_too_large"];
    await c.waitFor(() => codes.every((code) => c.frames.some((f) => f.type === "error" && f.code === code)), 5000, "all error codes");
    await c.waitFor(() => c.frames.filter((f) => f.code === "frame_too_large").length === 2, 5000, "both big frames refused as too large");
    expect(c.frames.filter((f) => f.code === "bad_json").length).toBe(3);
    expect(c.closeCode).toBeNull();

    const ok = await c.sendMessage(conv, "still fine");
    expect(ok.type).toBe("sent");
    await bystander.waitFor(() => bystander.messages().some((m) => m.data.body === "still fine"), 5000, "delivery");
    c.close();
    bystander.close();
  });

  test("a frame over 1 MB closes that socket with 1009; the replica stays up", async () => {
    const a = await member(stack);
    const c = await connected(a, stack.chats[1]!);
    c.send("x".repeat(1_100_000));
    expect(await c.closed(5000)).toBe(1009);
    expect((await fetch(`${stack.chats[1]!.url}/readyz`)).status).toBe(200);
  });

  test("a sender blocked by the recipient is refused with `blocked`", async () => {
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    await b.http.post(`/api/users/${a.handle}/block`);
    const c = await connected(a, stack.chats[0]!);
    const answer = await c.sendMessage(conv, "hi");
    expect(answer.type).toBe("error");
    expect(answer.code).toBe("blocked");
    const d = await connected(b, stack.chats[1]!);
    expect((await d.sendMessage(conv, "hi")).code).toBe("blocked");
    c.close();
    d.close();
  });
});

describe("absurd values", () => {
  test("hello with a cursor ahead of the head or a junk epoch resyncs, a malformed one is refused; presence answers each member once", async () => {
    const a = await member(stack);
    const b = await member(stack);
    await talking(a, b);
    const first = await connected(a, stack.chats[0]!);
    const epoch = first.epoch;
    first.close();
    const cases: [unknown, string][] = [
      [{ cursor: Number.MAX_SAFE_INTEGER, epoch }, "cursor_ahead"],
      [{ cursor: 0, epoch: epoch + "x".repeat(100) }, "epoch_changed"],
      [{ cursor: 0, epoch: "zzzzzzzz" }, "epoch_changed"],
    ];
    for (const [resume, reason] of cases) {
      const c = new ChatClient(wsUrl(stack.chats[0]!), a.cookie);
      await c.connect();
      c.send({ type: "hello", clientId: c.clientId, resume });
      await c.waitFor(() => c.frames.some((f) => f.type === "synced"), 5000, "synced");
      expect(c.frames.find((f) => f.type === "resync")?.reason).toBe(reason);
      expect(c.events).toEqual([]);
      c.close();
    }
    // a malformed cursor (one read back from storage as a string, say) is refused, never taken for
    // "no cursor", which would skip the events after it; the socket may then say hello properly
    for (const resume of [{ cursor: "0", epoch }, { cursor: 1.5, epoch }, { cursor: -5, epoch }, [0], "0", { cursor: 0, epoch: 5 }]) {
      const bad = new ChatClient(wsUrl(stack.chats[0]!), a.cookie);
      await bad.connect();
      bad.send({ type: "hello", clientId: bad.clientId, resume });
      await bad.waitFor(() => bad.frames.some((f) => f.type === "error"), 5000, "refused");
      expect({ resume, frames: bad.frames.map((f) => [f.type, f.code, f.ref]) }).toEqual({ resume, frames: [["error", "invalid", "hello"]] });
      bad.send({ type: "hello", clientId: bad.clientId, resume: { cursor: 0, epoch } });
      await bad.waitFor(() => bad.frames.some((f) => f.type === "synced"), 5000, "synced after a proper hello");
      expect(bad.events.length).toBeGreaterThan(0);
      bad.close();
    }
    const c = await connected(a, stack.chats[0]!);
    c.send({ type: "presence", userIds: Array(200).fill(b.id) });
    c.send({ type: "ping", ts: 1 });
    await c.waitFor(() => c.frames.some((f) => f.type === "pong"), 5000, "pong");
    await Bun.sleep(200);
    expect(c.frames.filter((f) => f.type === "presence" && f.userId === b.id).length).toBe(1);
    c.close();
  });
});

async function refusedSends(url: string, reason: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`chat_sends_refused_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

describe("flood", () => {
  test("typing frames naming junk conversations cannot flush the typing throttle of a real one", async () => {
    const [a, b] = [await member(stack), await member(stack)];
    const conv = await talking(a, b);
    const a1 = await connected(a, stack.chats[0]!);
    const b1 = await connected(b, stack.chats[1]!);
    a1.send({ type: "typing", conversationId: conv });
    await b1.waitFor(() => b1.frames.some((f) => f.type === "typing"), 5000, "the first typing");
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 70; i++) a1.send({ type: "typing", conversationId: String(900_000_000 + round * 100 + i) });
      a1.send({ type: "typing", conversationId: conv });
      await Bun.sleep(100);
    }
    await Bun.sleep(500);
    // all within the throttle's 1.5 s: the first one only
    expect(b1.frames.filter((f) => f.type === "typing").length).toBe(1);
    for (const c of [a1, b1]) c.close();
  });

  test("a member's typing is throttled over all their sockets on a replica, not per socket", async () => {
    const [a, b] = [await member(stack), await member(stack)];
    const conv = await talking(a, b);
    const sockets = await Promise.all(Array.from({ length: 6 }, () => connected(a, stack.chats[0]!)));
    const b1 = await connected(b, stack.chats[1]!);
    for (const s of sockets) s.send({ type: "typing", conversationId: conv });
    await b1.waitFor(() => b1.frames.some((f) => f.type === "typing"), 5000, "the first typing");
    await Bun.sleep(500);
    expect(b1.frames.filter((f) => f.type === "typing").length).toBe(1);
    for (const c of [...sockets, b1]) c.close();
  });

  test("long messages to a group of strangers run into the sender's fan-out budget (bytes × recipients): refused with the send's id; the group's others write on", async () => {
    const a = await member(stack);
    const others: TestMember[] = [];
    for (let i = 0; i < 9; i++) others.push(await member(stack));
    const group = (await a.http.post("/api/conversations", { handles: others.map((o) => o.handle), title: "strangers" })).json.conversation.id as string;
    const a1 = await connected(a, stack.chats[0]!);
    // 4,000 bytes to 9 others: 36,000 a message, the burst holds two
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = (await a1.sendMessage(group, "y".repeat(4000))) as { type: string; code?: string };
      answers.push(answer.type === "sent" ? "sent" : String(answer.code));
    }
    expect(answers).toEqual(["sent", "sent", "rate_limited", "rate_limited"]);
    const refused = a1.frames.filter((f) => f.type === "error" && (f as { code?: string }).code === "rate_limited");
    expect(refused.every((f) => typeof (f as { ref?: unknown }).ref === "string")).toBe(true);
    // over HTTP too (the api is another process, with a budget of its own), with when to resend
    const viaHttp = [];
    for (let i = 0; i < 3; i++) viaHttp.push(await a.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: group, body: "y".repeat(4000) }));
    expect(viaHttp.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(Number(viaHttp[2]!.headers.get("retry-after"))).toBeGreaterThan(0);
    const b1 = await connected(others[0]!, stack.chats[1]!);
    expect((await b1.sendMessage(group, "short, from someone else")).type).toBe("sent");
    // and text that would swell in every log is refused outright
    expect((await b1.sendMessage(group, "\u0001".repeat(10))).type).toBe("error");
    for (const c of [a1, b1]) c.close();
  });

  test("one member's sends from several sockets share one budget; a member with one socket is held to its own", async () => {
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const replica = stack.chats[0]!;
    const sockets = [await connected(a, replica), await connected(a, replica), await connected(a, replica)];
    const ids = sockets.map(() => Array.from({ length: 30 }, () => crypto.randomUUID()));
    const refusedBefore = await refusedSends(replica.url, "member_rate");
    sockets.forEach((c, k) => ids[k]!.forEach((id) => c.send({ type: "send", id, conversationId: conv, body: "burst" })));
    const answered = (c: (typeof sockets)[number], id: string) => c.frames.some((f) => f.id === id || f.ref === id);
    for (const [k, c] of sockets.entries()) await c.waitFor(() => ids[k]!.every((id) => answered(c, id)), 10_000, "every send answered");
    const frames = sockets.flatMap((c) => c.frames);
    const sent = frames.filter((f) => f.type === "sent").length;
    const limited = frames.filter((f) => f.code === "rate_limited" && typeof f.ref === "string");
    // a burst of twice the rate, and what refills while the 90 frames arrive
    expect(sent).toBeGreaterThanOrEqual(40);
    expect(sent).toBeLessThan(70);
    expect(sent + limited.length).toBe(90);
    expect((await refusedSends(replica.url, "member_rate")) - refusedBefore).toBe(limited.length);

    // one socket: 60 in a burst is within its own frame budget (burst 100), none refused
    const single = await connected(b, replica);
    const singleIds = Array.from({ length: 60 }, () => crypto.randomUUID());
    for (const id of singleIds) single.send({ type: "send", id, conversationId: conv, body: "one socket" });
    await single.waitFor(() => singleIds.every((id) => single.frames.some((f) => f.id === id && f.type === "sent")), 10_000, "60 sent");

    // the refused ones go through when resent later, with the same id
    await Bun.sleep(1_000);
    const later = await connected(a, replica);
    const again = await later.sendMessage(conv, "burst", String(limited[0]!.ref));
    expect(again.type).toBe("sent");
    for (const c of [...sockets, single, later]) c.close();
  });


  test("10k frames in a second from one socket: rate-limited and closed, the replica and other clients unaffected", async () => {
    const a = await member(stack);
    const b = await member(stack);
    const conv = await conversation(a, b);
    const peerA = await connected(a, stack.chats[1]!);
    const peerB = await connected(b, stack.chats[0]!);
    const flooder = await connected(await member(stack), stack.chats[0]!);
    for (let i = 0; i < 10_000; i++) flooder.send('{"type":"ping"}');
    await flooder.waitFor(() => flooder.frames.some((f) => f.code === "rate_limited"), 5000, "rate_limited");
    expect(await flooder.closed(5000)).toBe(1008);
    const pongs = flooder.frames.filter((f) => f.type === "pong").length;
    expect(pongs).toBeLessThanOrEqual(150);

    const sent = await peerA.sendMessage(conv, "after the flood");
    expect(sent.type).toBe("sent");
    await peerB.waitFor(() => peerB.messages().some((m) => m.data.body === "after the flood"), 5000, "delivery");
    const status = await (await fetch(`${stack.chats[0]!.url}/status`)).json();
    expect(status.sockets).toBeGreaterThanOrEqual(1);
    peerA.close();
    peerB.close();
  });

  test("binary frames spend tokens too: a binary flood is rate-limited and closed, not answered frame by frame", async () => {
    const flooder = await connected(await member(stack), stack.chats[1]!);
    for (let i = 0; i < 10_000; i++) flooder.ws.send(new Uint8Array([1]));
    await flooder.waitFor(() => flooder.frames.some((f) => f.code === "rate_limited"), 5000, "rate_limited");
    expect(await flooder.closed(5000)).toBe(1008);
    expect(flooder.frames.filter((f) => f.code === "bad_json").length).toBeLessThanOrEqual(150);
  });
});
