/**
 * A protocol-v1 client (docs/protocol.md) on k6/websockets: hello/resume, seq cursor with gap and
 * duplicate detection, coalesced acks, idempotent sends kept in an outbox until `sent` (resent after
 * a reconnect, a `busy`/`internal` error or a timeout), and the reconnect rules (after
 * `reconnect.afterMs`/1012, at once after 1013, backoff otherwise, never after 1008). One
 * DeviceState is one browser/device: it survives reconnects and iterations.
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

interface OutboxEntry {
  frame: string;
  firstSentAt: number;
  /** last time the frame went out; 0 = due (resend on the next tick) */
  lastSentAt: number;
}

export interface DeviceState {
  clientId: string;
  /** a welcome has set the cursor: every later hello resumes from it (even from 0) */
  welcomed: boolean;
  /** highest seq applied */
  cursor: number;
  epoch: string | null;
  /** sends not yet answered by `sent`, by client id */
  outbox: Map<string, OutboxEntry>;
  /** messageIds already seen by this device (bounded) */
  seen: Map<string, true>;
  /** client ids of this device's answered sends (bounded): their echo is not a delivery */
  sentIds: Map<string, true>;
  connections: number;
}

export function newDevice(clientId: string): DeviceState {
  return { clientId, welcomed: false, cursor: 0, epoch: null, outbox: new Map(), seen: new Map(), sentIds: new Map(), connections: 0 };
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

const MAX_SEEN = 20000;
const MAX_SENT_IDS = 5000;
/** resends per 100 ms tick: with the acks, well inside the server's 50 frames/s per socket */
const RESENDS_PER_TICK = 3;
/** error codes after which a send will never succeed */
const REFUSED = new Set(["invalid", "not_member", "blocked", "id_conflict", "frame_too_large"]);
let bodyCounter = 0;

function remember(map: Map<string, true>, key: string, max: number): void {
  map.set(key, true);
  if (map.size > max) {
    const first = map.keys().next();
    if (!first.done) map.delete(first.value);
  }
}

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

  const canSend = (): boolean => ws !== null && live && ws.readyState === 1;

  function flushAck(): void {
    if (canSend() && dev.cursor > acked) {
      ws!.send(JSON.stringify({ type: "ack", seq: dev.cursor }));
      acked = dev.cursor;
    }
  }

  /** Resends unanswered sends (due after a reconnect or an error, or old enough), a few per tick. */
  function resendDue(): void {
    if (!canSend() || dev.outbox.size === 0) return;
    const now = Date.now();
    let n = 0;
    for (const entry of dev.outbox.values()) {
      if (now - entry.lastSentAt < resendAfterMs) continue;
      ws!.send(entry.frame);
      entry.lastSentAt = now;
      m.resends.add(1, tags);
      if (++n >= RESENDS_PER_TICK) break;
    }
  }

  let ticks = 0;
  const tick = setInterval(() => {
    // acks once a second, as docs/protocol.md asks (the server stores one a second per client)
    if (++ticks % 10 === 0) flushAck();
    resendDue();
  }, 100);
  // never early (k6 < 2.3 could run a due timer early): an early end would skip the drain and count
  // the sends still in flight as unanswered
  const cancelEnd = afterAtLeast(endAt - Date.now(), () => finish());

  function sendOne(): void {
    const now = Date.now();
    if (finished || !canSend() || now < sendFromAt || now >= stopSendingAt || targets.length === 0) return;
    const t = targets[nextTarget++ % targets.length]!;
    const id = uuidv4();
    const frame = JSON.stringify({
      type: "send",
      id,
      conversationId: t.conversationId,
      body: `k6 ${dev.clientId} #${++bodyCounter}`,
      clientTs: now,
    });
    dev.outbox.set(id, { frame, firstSentAt: now, lastSentAt: now });
    ws!.send(frame);
    m.messagesSent.add(1, tags);
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
    clearInterval(tick);
    const now = Date.now();
    for (const [id, entry] of dev.outbox) {
      if (now - entry.firstSentAt >= unackedAfterMs) {
        m.unackedSends.add(1, { ...tags, why: "unanswered" });
        dev.outbox.delete(id);
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

  /** After a resumed welcome: the cursor may only move forward with a resync. */
  function settleWelcome(): void {
    if (welcomeSkipTo < 0) return;
    m.lost.add(welcomeSkipTo - dev.cursor, { ...tags, why: "welcome" });
    dev.cursor = welcomeSkipTo;
    welcomeSkipTo = -1;
  }

  function onFrame(raw: string): void {
    let f: any;
    try {
      f = JSON.parse(raw);
    } catch (e) {
      m.serverErrors.add(1, { ...tags, code: "bad_frame" });
      return;
    }
    switch (f.type) {
      case "welcome": {
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
        acked = dev.cursor;
        m.welcomeLatency.add(Date.now() - connectStartedAt, tags);
        if (o.onWelcome) o.onWelcome(f);
        // Resend what was never confirmed, on this socket (idempotent by id), paced by the tick.
        for (const entry of dev.outbox.values()) entry.lastSentAt = 0;
        if (o.sendEveryMs && o.sendEveryMs > 0 && sendTimer === null && !finished) {
          sendTimer = setInterval(sendOne, o.sendEveryMs);
        }
        break;
      }
      case "event": {
        settleWelcome();
        const seq = Number(f.seq);
        if (!Number.isSafeInteger(seq)) {
          m.serverErrors.add(1, { ...tags, code: "bad_event" });
          return;
        }
        if (seq <= dev.cursor) {
          m.duplicated.add(1, { ...tags, why: "seq" });
          return;
        }
        if (seq > dev.cursor + 1) m.lost.add(seq - dev.cursor - 1, { ...tags, why: "gap" });
        dev.cursor = seq;
        const now = Date.now();
        if (f.kind === "message" && f.data) {
          const mid = String(f.data.messageId);
          if (dev.seen.has(mid)) {
            m.duplicated.add(1, { ...tags, why: "messageId" });
            return;
          }
          remember(dev.seen, mid, MAX_SEEN);
          // The copy on the device that sent it is an echo, not a delivery.
          const clientMsgId = String(f.data.clientMsgId);
          const mine = dev.outbox.has(clientMsgId) || dev.sentIds.has(clientMsgId);
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
        settleWelcome();
        replaying = false;
        break;
      case "resync": {
        // The server could not replay the cursor (or a gap on the live stream); the stream goes on from `cursor`.
        welcomeSkipTo = -1;
        m.resyncs.add(1, { ...tags, reason: String(f.reason) });
        const c = Number(f.cursor);
        if (Number.isSafeInteger(c) && c >= 0) dev.cursor = c;
        if (typeof f.epoch === "string" && f.epoch !== "") dev.epoch = f.epoch;
        acked = Math.min(acked, dev.cursor);
        break;
      }
      case "sent": {
        const id = String(f.id);
        const entry = dev.outbox.get(id);
        if (!entry) break; // the answer to a resend whose first answer already came
        dev.outbox.delete(id);
        remember(dev.sentIds, id, MAX_SENT_IDS);
        m.messagesAcked.add(1, tags);
        m.sendAckLatency.add(Date.now() - entry.firstSentAt, tags);
        const expected = expectedFor.get(String(f.conversationId));
        if (expected !== undefined) m.deliveriesExpected.add(expected, tags);
        break;
      }
      case "reconnect":
        // The replica drains; it closes with 1012 next. Reconnect after the hint.
        drainHintMs = Number(f.afterMs) || 1000;
        break;
      case "error": {
        const code = String(f.code);
        m.serverErrors.add(1, { ...tags, code });
        const entry = typeof f.ref === "string" ? dev.outbox.get(f.ref) : undefined;
        if (entry && REFUSED.has(code)) {
          // This send will never be accepted: it is not delivered, count it now.
          dev.outbox.delete(f.ref);
          m.unackedSends.add(1, { ...tags, why: code });
        } else if (entry) {
          // busy / internal / unavailable / a member's rate_limited (with a ref): retry soon. The socket's own
          // rate_limited has no ref: the resend timeout covers it.
          entry.lastSentAt = Date.now() - resendAfterMs + 500;
        }
        break;
      }
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
    let opened = false;
    sock.onopen = () => {
      opened = true;
      m.connectOk.add(true, tags);
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
      if (ws === sock && e && typeof e.data === "string") onFrame(e.data);
    };
    sock.onerror = () => {
      // Before `open`: the upgrade failed (403 Origin/cookie, 429 too many sockets, 503 draining, refused).
      if (!opened) m.connectOk.add(false, tags);
    };
    sock.addEventListener("close", (ev: any) => {
      if (ws !== sock) return;
      ws = null;
      live = false;
      if (sendTimer !== null) {
        clearInterval(sendTimer);
        sendTimer = null;
      }
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
