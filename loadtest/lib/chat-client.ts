/**
 * A protocol-v1 client (docs/protocol.md) on k6/websockets: hello/resume, seq cursor with gap and
 * duplicate detection, coalesced acks, idempotent sends kept in an outbox until `sent`, and the
 * reconnect rules (after `reconnect.afterMs`/1012, at once after 1013, backoff otherwise, never
 * after 1008). One DeviceState is one browser/device: it survives reconnects and iterations.
 */
import { WebSocket } from "k6/websockets";
import type { MessageEvent } from "k6/websockets";
import http from "k6/http";
import { setInterval, clearInterval, setTimeout, clearTimeout } from "k6/timers";
import { COOKIE_NAME, ORIGIN } from "./config.ts";
import type { Member } from "./api.ts";
import { uuidv4 } from "./ids.ts";
import * as m from "./metrics.ts";

export interface DeviceState {
  clientId: string;
  /** highest seq applied; 0 = never connected */
  cursor: number;
  epoch: string | null;
  /** sends not yet answered by `sent`, by client id */
  outbox: Map<string, { frame: string; firstSentAt: number }>;
  /** messageIds already seen by this device (bounded) */
  seen: Map<string, true>;
  connections: number;
}

export function newDevice(clientId: string): DeviceState {
  return { clientId, cursor: 0, epoch: null, outbox: new Map(), seen: new Map(), connections: 0 };
}

export interface Target {
  conversationId: string;
  /** sockets that should receive each message, excluding the sending one */
  expectedCopies: number;
}

export interface ChatEvent {
  seq: number;
  ts: number;
  kind: string;
  data: any;
}

export interface SessionOptions {
  member: Member;
  device: DeviceState;
  url: string;
  /** how long to keep the device online (ms) */
  holdMs: number;
  /** interval between sends (ms); 0 = this device only listens */
  sendEveryMs?: number;
  /** do not send before this many ms into the session (let every receiver connect first) */
  sendAfterMs?: number;
  targets?: Target[];
  /** after holdMs: stop sending and wait this long for outstanding `sent`s and deliveries */
  drainMs?: number;
  /** sends still unanswered this long after their first attempt count as lost */
  unackedAfterMs?: number;
  /** called for every new (non-duplicate) durable event */
  onEvent?: (ev: ChatEvent) => void;
  /** called once per connection when `welcome` arrives */
  onWelcome?: (welcome: any) => void;
  tags?: Record<string, string>;
}

const MAX_SEEN = 20_000;
let bodyCounter = 0;

/** Runs one online session of a device; returns at once, k6's event loop drives it until holdMs + drainMs. */
export function runSession(o: SessionOptions): void {
  const dev = o.device;
  const drainMs = o.drainMs ?? 3000;
  const unackedAfterMs = o.unackedAfterMs ?? drainMs + 5000;
  const started = Date.now();
  const stopSendingAt = started + o.holdMs;
  const sendFromAt = started + (o.sendAfterMs ?? 0);
  const endAt = stopSendingAt + drainMs;
  const targets = o.targets ?? [];
  const tags = o.tags ?? {};
  let ws: WebSocket | null = null;
  let connId = "";
  let acked = dev.cursor;
  let live = false;
  let replaying = false;
  let finished = false;
  let backoffMs = 500;
  let sendTimer: number | null = null;
  let reconnectTimer: number | null = null;
  let nextTarget = Math.floor(Math.random() * Math.max(1, targets.length));
  const expectedFor = new Map<string, number>();
  for (const t of targets) expectedFor.set(t.conversationId, t.expectedCopies);

  const ackTimer = setInterval(() => {
    if (ws && live && dev.cursor > acked) {
      ws.send(JSON.stringify({ type: "ack", seq: dev.cursor }));
      acked = dev.cursor;
    }
  }, 100);

  const endTimer = setTimeout(() => finish(), Math.max(0, endAt - Date.now()));

  function finish(): void {
    if (finished) return;
    finished = true;
    clearInterval(ackTimer);
    if (sendTimer !== null) clearInterval(sendTimer);
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    clearTimeout(endTimer);
    const now = Date.now();
    for (const [id, entry] of dev.outbox) {
      if (now - entry.firstSentAt >= unackedAfterMs) {
        m.unackedSends.add(1, tags);
        dev.outbox.delete(id);
      }
    }
    if (ws) {
      if (live && dev.cursor > acked) ws.send(JSON.stringify({ type: "ack", seq: dev.cursor }));
      ws.close(1000, "done");
    }
  }

  function sendOne(): void {
    const nowMs = Date.now();
    if (!ws || !live || nowMs < sendFromAt || nowMs >= stopSendingAt || targets.length === 0) return;
    const t = targets[nextTarget++ % targets.length]!;
    const id = uuidv4();
    const now = Date.now();
    const frame = JSON.stringify({
      type: "send",
      id,
      conversationId: t.conversationId,
      body: `k6 ${dev.clientId} #${++bodyCounter}`,
      clientTs: now,
    });
    dev.outbox.set(id, { frame, firstSentAt: now });
    ws.send(frame);
    m.messagesSent.add(1, tags);
  }

  function scheduleReconnect(delayMs: number): void {
    if (finished || Date.now() + delayMs >= endAt) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, delayMs);
  }

  function onFrame(raw: string): void {
    let f: any;
    try {
      f = JSON.parse(raw);
    } catch {
      m.serverErrors.add(1, { ...tags, code: "bad_frame" });
      return;
    }
    switch (f.type) {
      case "welcome": {
        live = true;
        replaying = true;
        backoffMs = 500;
        connId = String(f.connId ?? "");
        if (dev.cursor === 0 || (dev.epoch !== null && f.epoch !== dev.epoch && f.cursor < dev.cursor)) {
          dev.cursor = Number(f.cursor) || 0;
        }
        dev.epoch = f.epoch ?? dev.epoch;
        acked = Math.min(acked, dev.cursor);
        m.welcomeLatency.add(Date.now() - connectStartedAt, tags);
        if (o.onWelcome) o.onWelcome(f);
        // Resend what was never confirmed (idempotent by id).
        for (const entry of dev.outbox.values()) ws!.send(entry.frame);
        if (o.sendEveryMs && o.sendEveryMs > 0 && sendTimer === null) {
          sendTimer = setInterval(sendOne, o.sendEveryMs);
        }
        break;
      }
      case "event": {
        const seq = Number(f.seq);
        if (seq <= dev.cursor) {
          m.duplicated.add(1, { ...tags, why: "seq" });
          return;
        }
        if (seq > dev.cursor + 1 && dev.cursor > 0) m.lost.add(seq - dev.cursor - 1, { ...tags, why: "gap" });
        dev.cursor = seq;
        const now = Date.now();
        if (f.kind === "message" && f.data) {
          const mid = String(f.data.messageId);
          if (dev.seen.has(mid)) {
            m.duplicated.add(1, { ...tags, why: "messageId" });
            return;
          }
          dev.seen.set(mid, true);
          if (dev.seen.size > MAX_SEEN) {
            const first = dev.seen.keys().next();
            if (!first.done) dev.seen.delete(first.value);
          }
          // The copy on the connection that sent it is an echo, not a delivery.
          const clientMsgId = String(f.data.clientMsgId);
          const mine = dev.outbox.has(clientMsgId) || sentByMe.has(clientMsgId);
          if (!mine) {
            m.deliveries.add(1, tags);
            if (replaying) m.replayed.add(1, tags);
            else if (typeof f.data.clientTs === "number") m.deliveryLatency.add(Math.max(0, now - f.data.clientTs), tags);
          }
        }
        if (o.onEvent) o.onEvent({ seq, ts: Number(f.ts), kind: String(f.kind), data: f.data });
        break;
      }
      case "synced":
        replaying = false;
        break;
      case "resync":
        m.resyncs.add(1, { ...tags, reason: String(f.reason) });
        dev.cursor = Number(f.cursor) || dev.cursor;
        dev.epoch = f.epoch ?? dev.epoch;
        break;
      case "sent": {
        const entry = dev.outbox.get(String(f.id));
        if (entry) {
          dev.outbox.delete(String(f.id));
          rememberSent(String(f.id));
          m.messagesAcked.add(1, tags);
          m.sendAckLatency.add(Date.now() - entry.firstSentAt, tags);
          const expected = expectedFor.get(String(f.conversationId));
          if (expected !== undefined) m.deliveriesExpected.add(expected, tags);
        }
        break;
      }
      case "reconnect":
        // The replica drains; it closes with 1012 next. Reconnect after the hint.
        drainHintMs = Number(f.afterMs) || 1000;
        break;
      case "error":
        m.serverErrors.add(1, { ...tags, code: String(f.code) });
        break;
      default:
        break;
    }
  }

  const sentByMe = new Map<string, true>();
  function rememberSent(id: string): void {
    sentByMe.set(id, true);
    if (sentByMe.size > 5000) {
      const first = sentByMe.keys().next();
      if (!first.done) sentByMe.delete(first.value);
    }
  }

  let drainHintMs = 0;
  let connectStartedAt = 0;

  function connect(): void {
    if (finished) return;
    live = false;
    drainHintMs = 0;
    connectStartedAt = Date.now();
    dev.connections++;
    const params = {
      headers: { Origin: ORIGIN, Cookie: `${COOKIE_NAME}=${o.member.sid}` },
      jar: new http.CookieJar(),
      tags,
    };
    const sock = new WebSocket(o.url, null, params);
    ws = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
      m.connectOk.add(true, tags);
      const hello: any = { type: "hello", clientId: dev.clientId };
      if (dev.cursor > 0) hello.resume = dev.epoch ? { cursor: dev.cursor, epoch: dev.epoch } : { cursor: dev.cursor };
      sock.send(JSON.stringify(hello));
    };
    sock.onmessage = (e?: MessageEvent) => {
      if (e && typeof e.data === "string") onFrame(e.data);
    };
    sock.onerror = () => {
      if (!opened) m.connectOk.add(false, tags);
    };
    sock.addEventListener("close", (ev: any) => {
      if (ws === sock) ws = null;
      live = false;
      if (sendTimer !== null) {
        clearInterval(sendTimer);
        sendTimer = null;
      }
      if (finished) return;
      // `code` on the close event exists in recent k6 (grafana/k6#4972); older versions omit it.
      const code = ev && typeof ev.code === "number" ? ev.code : 0;
      m.unexpectedCloses.add(1, { ...tags, code: String(code) });
      if (code === 1008) {
        finish();
        return;
      }
      if (code === 1013) scheduleReconnect(0);
      else if (code === 1012 || drainHintMs > 0) scheduleReconnect(drainHintMs || 1000);
      else {
        scheduleReconnect(Math.floor(backoffMs * (0.5 + Math.random())));
        backoffMs = Math.min(30_000, backoffMs * 2);
      }
    });
  }

  connect();
  void connId;
}

/** Picks the WebSocket URL for a socket, round-robin over the configured replicas. */
export function pickUrl(urls: string[], n: number): string {
  return urls[n % urls.length]!;
}
