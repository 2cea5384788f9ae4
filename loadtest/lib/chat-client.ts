/**
 * A protocol-v1 client (docs/protocol.md) on k6/websockets: hello/resume, seq cursor with gap and
 * duplicate detection, acks about once a second, idempotent sends kept in an outbox until `sent`
 * (resent after a reconnect, a `busy`/`internal` error or a timeout), and the reconnect rules
 * (after `reconnect.afterMs`/1012, at once after 1013, backoff otherwise, never after 1008). One
 * DeviceState is one browser/device: it survives reconnects and iterations. Each message a device
 * writes is numbered (message-body.ts), and every device checks that the other devices' confirmed
 * messages all reached it (sender-gaps.ts).
 *
 * Timers: one VU per socket, so every timer a socket keeps costs the load generator a callback per
 * firing. A socket arms its ack timer only when its cursor moved (at most one ack a second) and its
 * resend timer only while its outbox holds unanswered sends; an idle socket has neither.
 *
 * The upgrade carries the session cookie and an allowed Origin as explicit headers: k6/websockets
 * takes `headers` and a cookie `jar` in its params (no `cookies` param). A fresh, empty jar is passed
 * as well, so nothing of the VU's jar can reach the upgrade, whichever of the two a k6 version's
 * dialer prefers when both are set (gorilla/websocket's sends the explicit header).
 */
import { WebSocket } from "k6/websockets";
import type { MessageEvent } from "k6/websockets";
import http from "k6/http";
import { setInterval, clearInterval, setTimeout, clearTimeout } from "k6/timers";
import { BASE_URL, COOKIE_NAME, ORIGIN, TAIL_CHECK, TAIL_GRACE_MS } from "./config.ts";
import { authParams, json, type Member } from "./api.ts";
import { uuidv4 } from "./ids.ts";
import * as m from "./metrics.ts";
import { afterAtLeast } from "./timers.ts";
import { deviceMessageBody, parseDeviceMessage } from "./message-body.ts";
import { RecentIds } from "./recent-ids.ts";
import { SenderGaps } from "./sender-gaps.ts";

interface OutboxEntry {
  frame: string;
  /** the device's number for this message (its body's `#n`) */
  n: number;
  firstSentAt: number;
  /** last time the frame went out; 0 = due at once (after a reconnect) */
  lastSentAt: number;
}

export interface DeviceState {
  clientId: string;
  /** a welcome has set the cursor: every later hello resumes from it (even from 0) */
  welcomed: boolean;
  /** highest seq applied */
  cursor: number;
  epoch: string | null;
  /** sends not yet answered by `sent`, by client id, in the order written */
  outbox: Map<string, OutboxEntry>;
  /** messageIds this device saw within its dedup window */
  seen: RecentIds;
  /** client ids of this device's sends answered within its dedup window: their echo is not a delivery */
  sentIds: RecentIds;
  /** the number of the last message this device wrote */
  written: number;
  /** the lowest number this device gave up on (refused, or left unanswered); Infinity while none */
  gaveUpFrom: number;
  /** the other devices' numbered messages this device received */
  senders: SenderGaps;
  connections: number;
}

/**
 * How long a device remembers message ids. A duplicate messageId (the same message under a new
 * seq) comes only from the server announcing a message again for a repeat of its send whose
 * answer had gone (CHAT_SEND_ANSWER_TTL_SECONDS, 10 min by default): so within that TTL of the
 * first copy nothing can repeat it, and after it only a repeat of a send its device still resends.
 */
const SEND_ANSWER_TTL_MS = 10 * 60_000;

/**
 * `resendHorizonMs`: how long after writing a send the device may still resend it (its session,
 * or longer where unanswered sends wait for the next session): the ids are kept for that long, and
 * at least the server's answer TTL.
 */
export function newDevice(clientId: string, resendHorizonMs = 0): DeviceState {
  const windowMs = Math.max(SEND_ANSWER_TTL_MS, resendHorizonMs);
  return {
    clientId,
    welcomed: false,
    cursor: 0,
    epoch: null,
    outbox: new Map(),
    seen: new RecentIds(windowMs),
    sentIds: new RecentIds(windowMs),
    written: 0,
    gaveUpFrom: Infinity,
    senders: new SenderGaps(),
    connections: 0,
  };
}

/** The mark a new message carries: every number below it was confirmed (message-body.ts). */
function confirmedBelow(dev: DeviceState): number {
  const oldestUnanswered = dev.outbox.values().next();
  const pending = oldestUnanswered.done ? dev.written + 1 : oldestUnanswered.value.n;
  return Math.min(pending, dev.gaveUpFrom);
}

/** A send that will never be confirmed: later marks stop below it. */
function giveUp(dev: DeviceState, id: string, entry: OutboxEntry): void {
  dev.outbox.delete(id);
  dev.gaveUpFrom = Math.min(dev.gaveUpFrom, entry.n);
}

/**
 * When k6 read the frame off the socket (k6/websockets' MessageEvent.timestamp, ms): the handler
 * may run later, when the VU's event loop gets to it. Date.now() where a runtime lacks it.
 */
function receivedAt(e: MessageEvent): number {
  return typeof e.timestamp === "number" && Number.isFinite(e.timestamp) ? e.timestamp : Date.now();
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
  /** when the frame was read off the socket (ms) */
  receivedAt: number;
}

export interface SessionOptions {
  member: Member;
  device: DeviceState;
  /**
   * WebSocket URL(s): the first connection uses the first one, each reconnect the next one (so a
   * socket on a draining replica resumes on another one when the URLs are the replicas themselves).
   */
  urls: string[];
  /** how long to keep the device online (ms) */
  holdMs: number;
  /** interval between sends (ms); 0 = this device only listens */
  sendEveryMs?: number;
  /** do not send before this many ms into the session (let every receiver connect first) */
  sendAfterMs?: number;
  targets?: Target[];
  /** after holdMs: stop sending and wait this long for outstanding `sent`s and deliveries */
  drainMs?: number;
  /**
   * At the end of the session, unanswered sends at least this old count as unacked (and leave the
   * outbox); younger ones stay for the device's next session. 0 (default): all of them count.
   */
  unackedAfterMs?: number;
  /** resend a send still unanswered after this long (idempotent by id); default 5000 */
  resendAfterMs?: number;
  /** called for every new (non-duplicate) durable event */
  onEvent?: (ev: ChatEvent) => void;
  /** called once per connection when `welcome` arrives */
  onWelcome?: (welcome: any) => void;
  tags?: Record<string, string>;
}

/** docs/protocol.md: ack about once a second (the server stores one a second per client) */
const ACK_EVERY_MS = 1000;
/** a backlog of due resends goes out 3 at a time, 100 ms apart: at most 30 frames/s */
const RESENDS_PER_BURST = 3;
const RESEND_PACE_MS = 100;
/** docs/protocol.md: the web client gives a socket up after 10 s without a `welcome` */
const UPGRADE_PATIENCE_MS = 10_000;
/** error codes after which a send will never succeed */
const REFUSED = new Set(["invalid", "not_member", "blocked", "id_conflict", "frame_too_large"]);

/** Runs one online session of a device; returns at once, k6's event loop drives it until holdMs + drainMs (+ the tail check). */
export function runSession(o: SessionOptions): void {
  const dev = o.device;
  const drainMs = o.drainMs === undefined ? 3000 : o.drainMs;
  const unackedAfterMs = o.unackedAfterMs === undefined ? 0 : o.unackedAfterMs;
  const resendAfterMs = o.resendAfterMs === undefined ? 5000 : o.resendAfterMs;
  const started = Date.now();
  const stopSendingAt = started + o.holdMs;
  const sendFromAt = started + (o.sendAfterMs || 0);
  const endAt = stopSendingAt + drainMs;
  const targets = o.targets || [];
  const tags = o.tags || {};
  const expectedFor = new Map<string, number>();
  for (const t of targets) expectedFor.set(t.conversationId, t.expectedCopies);

  let ws: WebSocket | null = null;
  /** `welcome` arrived on the current socket and it is not closed */
  let live = false;
  let replaying = false;
  /** no more sends and reconnects: the session is ending */
  let finished = false;
  let backoffMs = 500;
  let sendTimer: number | null = null;
  let reconnectTimer: number | null = null;
  let ackTimer: number | null = null;
  let resendTimer: number | null = null;
  let nextTarget = Math.floor(Math.random() * Math.max(1, targets.length));
  /** highest seq acked on the current socket */
  let acked = 0;
  /** the cursor the current socket's hello resumed from (null: a first connection, no resume) */
  let resumedFrom: number | null = null;
  /** a welcome put the cursor ahead of the resume point: lost, unless a resync explains it */
  let welcomeSkipTo = -1;
  let drainHintMs = 0;
  let connectStartedAt = 0;
  let attempts = 0;
  /** the upgrade of the current socket has been answered (opened or refused) */
  let handshakeAnswered = true;

  const canSend = (): boolean => ws !== null && live && ws.readyState === 1;

  function flushAck(): void {
    if (canSend() && dev.cursor > acked) {
      ws!.send(JSON.stringify({ type: "ack", seq: dev.cursor }));
      acked = dev.cursor;
    }
  }

  /** The cursor moved: ack it within a second, coalescing whatever else arrives meanwhile. */
  function ackSoon(): void {
    if (ackTimer !== null || !canSend()) return;
    ackTimer = setTimeout(() => {
      ackTimer = null;
      flushAck();
    }, ACK_EVERY_MS);
  }

  /** When the oldest-due unanswered send is due again, or null with none. */
  function nextResendDue(): number | null {
    let due: number | null = null;
    for (const entry of dev.outbox.values()) {
      const at = entry.lastSentAt + resendAfterMs;
      if (due === null || at < due) due = at;
    }
    return due;
  }

  /** Arms the resend timer while the outbox holds unanswered sends (and the socket can carry them). */
  function scheduleResend(): void {
    if (resendTimer !== null || !canSend()) return;
    const due = nextResendDue();
    if (due === null) return;
    resendTimer = setTimeout(() => {
      resendTimer = null;
      resendDue();
      scheduleResend();
    }, Math.max(RESEND_PACE_MS, due - Date.now()));
  }

  function cancelResend(): void {
    if (resendTimer !== null) clearTimeout(resendTimer);
    resendTimer = null;
  }

  /** A send became due sooner than the armed timer (an error, a reconnect). */
  function rescheduleResend(): void {
    cancelResend();
    scheduleResend();
  }

  /** Resends the unanswered sends that are due, a burst at a time. */
  function resendDue(): void {
    if (!canSend()) return;
    const now = Date.now();
    let n = 0;
    for (const entry of dev.outbox.values()) {
      if (now - entry.lastSentAt < resendAfterMs) continue;
      ws!.send(entry.frame);
      entry.lastSentAt = now;
      m.resends.add(1, tags);
      if (++n >= RESENDS_PER_BURST) break;
    }
  }

  function cancelSocketTimers(): void {
    if (ackTimer !== null) clearTimeout(ackTimer);
    ackTimer = null;
    cancelResend();
    if (sendTimer !== null) clearInterval(sendTimer);
    sendTimer = null;
  }

  // never early (k6 < 2.3 could run a due timer early): an early end would skip the drain and count
  // the sends still in flight as unanswered
  const cancelEnd = afterAtLeast(endAt - Date.now(), () => finish());

  function sendOne(): void {
    const now = Date.now();
    if (finished || !canSend() || now < sendFromAt || now >= stopSendingAt || targets.length === 0) return;
    const t = targets[nextTarget++ % targets.length]!;
    const id = uuidv4();
    const mark = confirmedBelow(dev);
    const n = ++dev.written;
    const frame = JSON.stringify({
      type: "send",
      id,
      conversationId: t.conversationId,
      body: deviceMessageBody(dev.clientId, n, mark),
      clientTs: now,
    });
    dev.outbox.set(id, { frame, n, firstSentAt: now, lastSentAt: now });
    ws!.send(frame);
    m.messagesSent.add(1, tags);
    scheduleResend();
  }

  /** Stops sending; checks the tail of the member's log against the socket's cursor; then closes. */
  function finish(): void {
    if (finished) return;
    finished = true;
    cancelEnd();
    if (sendTimer !== null) clearInterval(sendTimer);
    sendTimer = null;
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    reconnectTimer = null;
    countUnansweredUpgrade();
    if (!TAIL_CHECK) return close();
    if (!canSend()) {
      // Offline at the end (its replicas unreachable): whatever the log holds beyond its cursor
      // never reached this device. Not "lost" (the log has it, for the next connection), but not
      // verified either: the run must not pass as if it had been delivered.
      const head = logHead();
      if (head === null || head > dev.cursor) m.tailUnverified.add(1, { ...tags, why: "offline" });
      return close();
    }
    flushAck();
    const head = logHead();
    if (head === null) {
      m.tailUnverified.add(1, tags);
      return close();
    }
    if (head <= dev.cursor) return close();
    // The log holds events this socket has not had yet: give them TAIL_GRACE_MS to arrive.
    const sock = ws;
    afterAtLeast(TAIL_GRACE_MS, () => {
      if (ws !== sock || !live) m.tailUnverified.add(1, tags);
      else if (dev.cursor < head) m.lost.add(head - dev.cursor, { ...tags, why: "tail" });
      close();
    });
  }

  /**
   * The member's last seq in the api's event log, or null when it cannot be told (another epoch:
   * Redis lost the stream). Without `after` the api answers with the head as `cursor` and no events,
   * so this never downloads the replay window. (Like any poll, it marks the member online for a
   * presence period.)
   */
  function logHead(): number | null {
    const q = `wait=0${dev.epoch ? `&epoch=${encodeURIComponent(dev.epoch)}` : ""}`;
    const res = http.get(`${BASE_URL}/api/events?${q}`, authParams(o.member.sid, "tail_check", { tags }));
    if (res.status !== 200) return null;
    const body = json<any>(res);
    if (!body || body.resync || !Number.isSafeInteger(body.cursor)) return null;
    return Number(body.cursor);
  }

  function close(): void {
    cancelSocketTimers();
    const now = Date.now();
    for (const [id, entry] of dev.outbox) {
      if (now - entry.firstSentAt >= unackedAfterMs) {
        m.unackedSends.add(1, { ...tags, why: "unanswered" });
        giveUp(dev, id, entry);
      }
    }
    // Only an OPEN socket is closed here; one still CONNECTING is closed by its onopen. Before
    // k6 2.3 (grafana/k6#6351) close() on a CONNECTING socket blocks the VU until the handshake
    // ends, and for good when it fails.
    if (ws && ws.readyState === 1) {
      flushAck();
      ws.close(1000, "done");
    }
  }

  function scheduleReconnect(delayMs: number): void {
    if (finished || Date.now() + delayMs >= endAt) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, delayMs);
  }

  /**
   * An upgrade left unanswered for as long as the web client waits for a `welcome` never connected:
   * a failed connection rather than none. (So a run whose every upgrade hangs still has samples in
   * chat_connect_ok, whose threshold k6 versions judge differently without any.) A younger one, a
   * reconnect just before the end, counts neither way.
   */
  function countUnansweredUpgrade(): void {
    if (handshakeAnswered || Date.now() - connectStartedAt < UPGRADE_PATIENCE_MS) return;
    handshakeAnswered = true;
    m.connectOk.add(false, { ...tags, why: "no_answer" });
  }

  /** A discontinuity counted elsewhere: the sender check owes only messages written after it. */
  function restartSenderCheck(at: number): void {
    dev.senders.restartAt(at);
  }

  /** After a resumed welcome: the cursor may only move forward with a resync. */
  function settleWelcome(at: number): void {
    if (welcomeSkipTo < 0) return;
    m.lost.add(welcomeSkipTo - dev.cursor, { ...tags, why: "welcome" });
    dev.cursor = welcomeSkipTo;
    welcomeSkipTo = -1;
    restartSenderCheck(at);
  }

  function onWelcome(f: any, at: number): void {
    const w = Number(f.cursor);
    if (!Number.isSafeInteger(w) || w < 0) {
      m.serverErrors.add(1, { ...tags, code: "bad_welcome" });
      return;
    }
    live = true;
    replaying = true;
    backoffMs = 500;
    if (resumedFrom === null) dev.cursor = w;
    else if (w > resumedFrom) welcomeSkipTo = w;
    // w below the resume point: the server answers with resync (epoch_changed, cursor_ahead) next.
    if (typeof f.epoch === "string" && f.epoch !== "") dev.epoch = f.epoch;
    dev.welcomed = true;
    dev.senders.startAt(at);
    acked = dev.cursor;
    m.welcomeLatency.add(Math.max(0, at - connectStartedAt), tags);
    if (o.onWelcome) o.onWelcome(f);
    // Resend what was never confirmed, on this socket (idempotent by id), paced by the resend timer.
    for (const entry of dev.outbox.values()) entry.lastSentAt = 0;
    rescheduleResend();
    if (o.sendEveryMs && o.sendEveryMs > 0 && sendTimer === null && !finished) {
      sendTimer = setInterval(sendOne, o.sendEveryMs);
    }
  }

  /** A message event, new by seq: a duplicate by messageId, an echo of this device's own, or a delivery. */
  function onMessageEvent(data: any, at: number): void {
    const mid = String(data.messageId);
    if (dev.seen.has(mid)) {
      m.duplicated.add(1, { ...tags, why: "messageId" });
      return;
    }
    dev.seen.add(mid, at);
    // The copy on the device that sent it is an echo, not a delivery.
    const clientMsgId = String(data.clientMsgId);
    if (dev.outbox.has(clientMsgId) || dev.sentIds.has(clientMsgId)) return;
    // Only the devices' numbered messages are deliveries: the api mix's HTTP sends, the seed and
    // fan-out messages travel other paths, and their copies are not what these figures measure.
    const msg = parseDeviceMessage(data.body);
    // (one of this device's own that its ids no longer tell, a send it gave up on, is an echo too)
    if (!msg || msg.sender === dev.clientId) return;
    m.deliveries.add(1, tags);
    // Replayed copies waited for this device to come back: their age is not delivery latency.
    if (replaying) m.replayed.add(1, tags);
    else if (typeof data.clientTs === "number") m.deliveryLatency.add(Math.max(0, at - data.clientTs), tags);
    const settled = dev.senders.receive(msg, typeof data.clientTs === "number" ? data.clientTs : NaN);
    if (settled.lost > 0) m.lost.add(settled.lost, { ...tags, why: "sender_gap" });
    if (settled.verified > 0) m.senderVerified.add(settled.verified, tags);
  }

  function onEvent(f: any, at: number): void {
    settleWelcome(at);
    const seq = Number(f.seq);
    if (!Number.isSafeInteger(seq)) {
      m.serverErrors.add(1, { ...tags, code: "bad_event" });
      return;
    }
    if (seq <= dev.cursor) {
      m.duplicated.add(1, { ...tags, why: "seq" });
      return;
    }
    if (seq > dev.cursor + 1) {
      m.lost.add(seq - dev.cursor - 1, { ...tags, why: "gap" });
      restartSenderCheck(at);
    }
    dev.cursor = seq;
    ackSoon();
    if (f.kind === "message" && f.data) onMessageEvent(f.data, at);
    if (o.onEvent) o.onEvent({ seq, ts: Number(f.ts), kind: String(f.kind), data: f.data, receivedAt: at });
  }

  function onResync(f: any, at: number): void {
    // The server could not replay the cursor (or a gap on the live stream); the stream goes on from `cursor`.
    welcomeSkipTo = -1;
    m.resyncs.add(1, { ...tags, reason: String(f.reason) });
    const c = Number(f.cursor);
    if (Number.isSafeInteger(c) && c >= 0) dev.cursor = c;
    if (typeof f.epoch === "string" && f.epoch !== "") dev.epoch = f.epoch;
    acked = Math.min(acked, dev.cursor);
    ackSoon();
    restartSenderCheck(at);
  }

  function onSent(f: any, at: number): void {
    const id = String(f.id);
    const entry = dev.outbox.get(id);
    if (!entry) return; // the answer to a resend whose first answer already came
    dev.outbox.delete(id);
    if (dev.outbox.size === 0) cancelResend();
    dev.sentIds.add(id, at);
    m.messagesAcked.add(1, tags);
    m.sendAckLatency.add(Math.max(0, at - entry.firstSentAt), tags);
    const expected = expectedFor.get(String(f.conversationId));
    if (expected !== undefined) m.deliveriesExpected.add(expected, tags);
  }

  function onError(f: any): void {
    const code = String(f.code);
    m.serverErrors.add(1, { ...tags, code });
    const entry = typeof f.ref === "string" ? dev.outbox.get(f.ref) : undefined;
    if (entry && REFUSED.has(code)) {
      // This send will never be accepted: it is not delivered, count it now.
      giveUp(dev, f.ref, entry);
      m.unackedSends.add(1, { ...tags, why: code });
    } else if (entry) {
      // busy / internal / unavailable / a member's rate_limited (with a ref): retry soon. The socket's own
      // rate_limited has no ref: the resend timeout covers it.
      entry.lastSentAt = Date.now() - resendAfterMs + 500;
      rescheduleResend();
    }
  }

  function onFrame(raw: string, at: number): void {
    let f: any;
    try {
      f = JSON.parse(raw);
    } catch (e) {
      m.serverErrors.add(1, { ...tags, code: "bad_frame" });
      return;
    }
    switch (f.type) {
      case "welcome":
        onWelcome(f, at);
        break;
      case "event":
        onEvent(f, at);
        break;
      case "synced":
        settleWelcome(at);
        replaying = false;
        break;
      case "resync":
        onResync(f, at);
        break;
      case "sent":
        onSent(f, at);
        break;
      case "reconnect":
        // The replica drains; it closes with 1012 next. Reconnect after the hint.
        drainHintMs = Number(f.afterMs) || 1000;
        break;
      case "error":
        onError(f);
        break;
      default:
        break;
    }
  }

  function connect(): void {
    if (finished) return;
    live = false;
    replaying = false;
    drainHintMs = 0;
    welcomeSkipTo = -1;
    connectStartedAt = Date.now();
    dev.connections++;
    const url = o.urls[attempts++ % o.urls.length]!;
    const sock = new WebSocket(url, null, {
      headers: { Origin: ORIGIN, Cookie: `${COOKIE_NAME}=${o.member.sid}` },
      jar: new http.CookieJar(),
      tags,
    });
    ws = sock;
    handshakeAnswered = false;
    sock.onopen = () => {
      if (!handshakeAnswered) m.connectOk.add(true, tags);
      handshakeAnswered = true;
      if (finished) {
        // The session ended while this socket was still connecting.
        sock.close(1000, "done");
        return;
      }
      resumedFrom = dev.welcomed ? dev.cursor : null;
      const hello: any = { type: "hello", clientId: dev.clientId };
      if (resumedFrom !== null) hello.resume = dev.epoch ? { cursor: resumedFrom, epoch: dev.epoch } : { cursor: resumedFrom };
      sock.send(JSON.stringify(hello));
    };
    sock.onmessage = (e?: MessageEvent) => {
      if (ws === sock && e && typeof e.data === "string") onFrame(e.data, receivedAt(e));
    };
    sock.onerror = () => {
      // Before `open`: the upgrade failed (403 Origin/cookie, 429 too many sockets, 503 draining, refused).
      if (!handshakeAnswered) {
        handshakeAnswered = true;
        m.connectOk.add(false, tags);
      }
    };
    sock.addEventListener("close", (ev: any) => {
      if (ws !== sock) return;
      ws = null;
      live = false;
      cancelSocketTimers();
      if (finished) return;
      // `code` is on the close event when the peer sent one (grafana/k6#4972, in the k6 versions these
      // scripts need); 0 = none, e.g. a refused upgrade or a dropped connection.
      const code = ev && typeof ev.code === "number" ? ev.code : 0;
      // A drain (`reconnect` then 1012) is announced; anything else is unexpected.
      if (code === 1012 && drainHintMs > 0) m.drainReconnects.add(1, tags);
      else m.unexpectedCloses.add(1, { ...tags, code: String(code) });
      if (code === 1008) {
        finish();
        return;
      }
      if (code === 1013) scheduleReconnect(0);
      else if (code === 1012 || drainHintMs > 0) scheduleReconnect(drainHintMs || 1000);
      else {
        scheduleReconnect(Math.floor(backoffMs * (0.5 + Math.random())));
        backoffMs = Math.min(30000, backoffMs * 2);
      }
    });
  }

  connect();
}

/** The WebSocket URLs for socket n: round-robin over the configured replicas, starting at n. */
export function urlsFor(urls: string[], n: number): string[] {
  const k = n % urls.length;
  return urls.slice(k).concat(urls.slice(0, k));
}
