/**
 * The chat client's own rules, against stand-ins for k6's modules: a scripted socket (frames in,
 * frames out, each incoming one stamped as k6 stamps it), a clock whose timers run only when a
 * test moves it, and metrics that keep their samples. What is checked: the timers a socket keeps
 * (acks, resends), the latency's clock, which messages are deliveries, the numbers and marks a
 * device writes, and the sender-gap loss.
 */
import { afterEach, beforeEach, describe, expect, mock, setSystemTime, test } from "bun:test";

// ── a clock whose timers run when a test advances it ─────────────────────────────────────────
const START = Date.parse("2026-12-02T12:00:00Z");
let clock = START;
let nextTimer = 1;
const timers = new Map<number, { at: number; fn: () => void; every: number | null }>();

function arm(fn: () => void, ms: number, every: number | null): number {
  const id = nextTimer++;
  timers.set(id, { at: clock + Math.max(0, ms), fn, every });
  return id;
}
const disarm = (id: number | undefined) => void (id !== undefined && timers.delete(id));

/** Moves the clock by `ms`, running every timer that falls due on the way, in order. */
function advance(ms: number): void {
  const target = clock + ms;
  for (;;) {
    let due: [number, { at: number; fn: () => void; every: number | null }] | null = null;
    for (const entry of timers) if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
    if (!due) break;
    const [id, t] = due;
    clock = t.at;
    setSystemTime(new Date(clock));
    if (t.every === null) timers.delete(id);
    else t.at += t.every;
    t.fn();
  }
  clock = target;
  setSystemTime(new Date(clock));
}

mock.module("k6/timers", () => ({
  setTimeout: (fn: () => void, ms = 0) => arm(fn, ms, null),
  clearTimeout: disarm,
  setInterval: (fn: () => void, ms = 0) => arm(fn, ms, Math.max(1, ms)),
  clearInterval: disarm,
}));

// ── a scripted socket ────────────────────────────────────────────────────────────────────────
class ScriptedSocket {
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string; timestamp?: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  readonly sent: any[] = [];
  private readonly closeListeners: Array<(e: { code: number }) => void> = [];
  constructor(readonly url: string) {
    sockets.push(this);
  }
  addEventListener(type: string, fn: (e: { code: number }) => void): void {
    if (type === "close") this.closeListeners.push(fn);
  }
  send(data: string): void {
    if (this.readyState !== 1) throw new Error("InvalidStateError");
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    for (const fn of this.closeListeners) fn({ code });
  }
  /** the server accepts the upgrade */
  accept(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  /** a frame from the server, read off the socket at `timestamp` (k6's MessageEvent.timestamp) */
  push(frame: unknown, timestamp: number = clock): void {
    this.onmessage?.({ data: JSON.stringify(frame), timestamp });
  }
  framesOf(type: string): any[] {
    return this.sent.filter((f) => f.type === type);
  }
}
let sockets: ScriptedSocket[] = [];
mock.module("k6/websockets", () => ({ WebSocket: ScriptedSocket }));

// ── http, checks, crypto and metrics ─────────────────────────────────────────────────────────
class CookieJar {}
mock.module("k6/http", () => ({ default: { get: () => ({ status: 200, body: "{}" }), CookieJar }, CookieJar }));
mock.module("k6", () => ({ check: () => true, sleep: () => {} }));
mock.module("k6/crypto", () => ({ randomBytes: (n: number) => crypto.getRandomValues(new Uint8Array(n)).buffer }));

interface Sampled {
  metric: string;
  value: number;
  tags: Record<string, string>;
}
let samples: Sampled[] = [];
class Metric {
  constructor(readonly name: string) {}
  add(value: number | boolean, tags: Record<string, string> = {}): void {
    samples.push({ metric: this.name, value: Number(value), tags });
  }
}
mock.module("k6/metrics", () => ({ Counter: Metric, Rate: Metric, Trend: Metric, Gauge: Metric }));

(globalThis as Record<string, unknown>).__ENV = { TAIL_CHECK: "0" };
const { newDevice, runSession } = await import("./chat-client.ts");
const { parseDeviceMessage } = await import("./message-body.ts");

function sum(metric: string, tags: Record<string, string> = {}): number {
  return samples.filter((s) => s.metric === metric && Object.entries(tags).every(([k, v]) => s.tags[k] === v)).reduce((a, s) => a + s.value, 0);
}
function values(metric: string): number[] {
  return samples.filter((s) => s.metric === metric).map((s) => s.value);
}

const member = { handle: "a", sid: "sid-a" };
const CONV = "c1";

/** A device's session on one scripted socket, welcomed at cursor 0. */
function session(extra: Partial<Parameters<typeof runSession>[0]> = {}) {
  const device = newDevice("k6_t_0_0");
  runSession({ member, device, urls: ["ws://replica/ws"], holdMs: 60_000, drainMs: 1000, ...extra });
  const sock = sockets[sockets.length - 1]!;
  sock.accept();
  sock.push({ type: "welcome", v: 1, cursor: 0, epoch: "e1" });
  sock.push({ type: "synced", seq: 0 });
  return { device, sock };
}

let seq = 0;
/** A message event in this device's stream. */
function messageEvent(body: string, clientTs: number | undefined, clientMsgId = crypto.randomUUID()) {
  seq++;
  return { type: "event", seq, ts: clock, kind: "message", data: { messageId: String(1000 + seq), conversationId: CONV, senderId: "9", body, ts: clock, clientMsgId, ...(clientTs === undefined ? {} : { clientTs }) } };
}

/** Timers armed now, other than the session's own end. */
function socketTimers(sessionEndAt: number): number {
  return [...timers.values()].filter((t) => t.at !== sessionEndAt).length;
}

beforeEach(() => {
  clock = START;
  setSystemTime(new Date(clock));
  timers.clear();
  sockets = [];
  samples = [];
  seq = 0;
});

afterEach(() => setSystemTime());

describe("timers a socket keeps", () => {
  test("an idle socket arms none; a stream of events is acked at most once a second", () => {
    const { sock } = session();
    const endAt = START + 61_000;
    expect(socketTimers(endAt)).toBe(0);
    // 50 events over 2 s
    for (let i = 0; i < 50; i++) {
      sock.push(messageEvent("hello from k6", undefined));
      advance(40);
    }
    advance(1000);
    const acks = sock.framesOf("ack");
    // at most one a second, the last one with everything
    expect(acks.length).toBeGreaterThanOrEqual(2);
    expect(acks.length).toBeLessThanOrEqual(3);
    expect(acks.at(-1)).toEqual({ type: "ack", seq: 50 });
    // nothing new: no timer left behind, no ack more
    expect(socketTimers(endAt)).toBe(0);
    advance(10_000);
    expect(sock.framesOf("ack").length).toBe(acks.length);
  });

  test("a resend timer is armed only while a send is unanswered, and an unanswered send goes again", () => {
    const { sock } = session({ sendEveryMs: 1000, targets: [{ conversationId: CONV, expectedCopies: 1 }] });
    const endAt = START + 61_000;
    advance(1000);
    const [first] = sock.framesOf("send");
    expect(first).toBeDefined();
    // the send timer and the resend timer
    expect(socketTimers(endAt)).toBe(2);
    sock.push({ type: "sent", id: first.id, messageId: "1", conversationId: CONV, ts: clock, seq: 1 });
    expect(socketTimers(endAt)).toBe(1);
    // the next send stays unanswered: it goes again after 5 s, the same frame
    advance(1000);
    const second = sock.framesOf("send")[1];
    sock.push({ type: "sent", id: sock.framesOf("send")[1].id, messageId: "2", conversationId: CONV, ts: clock, seq: 2 });
    advance(1000);
    const third = sock.framesOf("send")[2];
    expect(second.id).not.toBe(third.id);
    advance(4900);
    expect(sock.framesOf("send").filter((f) => f.id === third.id).length).toBe(1);
    advance(100);
    const again = sock.framesOf("send").filter((f) => f.id === third.id);
    expect(again.length).toBe(2);
    expect(again[1]).toEqual(again[0]);
    expect(sum("chat_resends")).toBe(1);
  });
});

describe("what the figures count", () => {
  test("latency is measured to when k6 read the frame, not to when the handler ran", () => {
    session();
    const sock = sockets[0]!;
    advance(100);
    const writtenAt = clock;
    advance(500);
    // read off the socket 7 ms after it was written; the VU's event loop got to it 493 ms later
    sock.push(messageEvent("k6 k6_t_1_0 #1 <1", writtenAt), writtenAt + 7);
    expect(values("chat_delivery_latency")).toEqual([7]);
  });

  test("messages the devices did not write are checked but are not deliveries nor latency", () => {
    const { sock } = session();
    sock.push(messageEvent("hello from k6", clock));
    sock.push(messageEvent("k6 k6_t_1_0 #1 <1", clock));
    expect(sum("chat_deliveries")).toBe(1);
    expect(values("chat_delivery_latency").length).toBe(1);
    // the api mix's message still took its seq: no gap, no duplicate
    expect(sum("chat_lost")).toBe(0);
    sock.push(messageEvent("hello from k6", clock));
    expect(sum("chat_lost") + sum("chat_duplicated")).toBe(0);
  });

  test("a copy delivered during a replay is counted but has no latency", () => {
    const device = newDevice("k6_t_0_0");
    runSession({ member, device, urls: ["ws://replica/ws"], holdMs: 60_000 });
    const sock = sockets[0]!;
    sock.accept();
    sock.push({ type: "welcome", v: 1, cursor: 0, epoch: "e1" });
    sock.push(messageEvent("k6 k6_t_1_0 #1 <1", clock - 5000));
    sock.push({ type: "synced", seq: 1 });
    expect(sum("chat_deliveries")).toBe(1);
    expect(sum("chat_replayed")).toBe(1);
    expect(values("chat_delivery_latency")).toEqual([]);
  });
});

describe("the numbers a device writes and the sender-gap loss", () => {
  test("each message carries the device's next number and the mark of what was confirmed before it", () => {
    const { sock, device } = session({ sendEveryMs: 1000, targets: [{ conversationId: CONV, expectedCopies: 1 }] });
    advance(1000);
    const [s1] = sock.framesOf("send");
    sock.push({ type: "sent", id: s1.id, messageId: "1", conversationId: CONV, ts: clock, seq: 1 });
    advance(1000); // #2 stays unanswered
    advance(1000); // #3
    const bodies = sock.framesOf("send").map((f) => parseDeviceMessage(f.body));
    expect(bodies).toEqual([
      { sender: "k6_t_0_0", n: 1, confirmedBelow: 1 },
      { sender: "k6_t_0_0", n: 2, confirmedBelow: 2 },
      { sender: "k6_t_0_0", n: 3, confirmedBelow: 2 },
    ]);
    // #2 refused for good: later marks stop below it
    sock.push({ type: "error", code: "invalid", ref: sock.framesOf("send")[1].id, message: "no" });
    sock.push({ type: "sent", id: sock.framesOf("send")[2].id, messageId: "3", conversationId: CONV, ts: clock, seq: 3 });
    advance(1000);
    expect(parseDeviceMessage(sock.framesOf("send")[3].body)).toEqual({ sender: "k6_t_0_0", n: 4, confirmedBelow: 2 });
    expect(device.written).toBe(4);
  });

  test("another device's confirmed message that never arrives is lost (sender_gap); one written before the welcome is not", () => {
    const { sock } = session();
    // written before this device's welcome: not owed
    sock.push(messageEvent("k6 k6_t_1_0 #5 <5", START - 10));
    advance(10);
    sock.push(messageEvent("k6 k6_t_1_0 #7 <7", clock));
    sock.push(messageEvent("k6 k6_t_1_0 #8 <8", clock));
    // #9 never comes; #10 says it had been confirmed
    sock.push(messageEvent("k6 k6_t_1_0 #10 <10", clock));
    expect(sum("chat_lost", { why: "sender_gap" })).toBe(1);
    expect(sum("chat_sender_verified")).toBe(2);
    // the stream itself had no gap
    expect(sum("chat_lost", { why: "gap" })).toBe(0);
  });

  test("a resync excuses what it skipped: only messages written after it are owed", () => {
    const { sock } = session();
    advance(10);
    sock.push(messageEvent("k6 k6_t_1_0 #1 <1", clock));
    advance(10);
    sock.push({ type: "resync", reason: "window_exceeded", cursor: 500, epoch: "e1" });
    seq = 500;
    advance(10);
    sock.push(messageEvent("k6 k6_t_1_0 #6 <6", clock));
    sock.push(messageEvent("k6 k6_t_1_0 #7 <7", clock));
    expect(sum("chat_lost")).toBe(0);
    expect(sum("chat_resyncs")).toBe(1);
  });
});
