// The connection engine: one per browser. It runs inside the SharedWorker, or in the leader tab
// where SharedWorker does not exist. It implements docs/protocol.md (v1): persistent clientId and
// {cursor, epoch}, cumulative acks, resume with jittered backoff, resync, an outbox of sends kept
// until their `sent` arrives, and the HTTP long-poll fallback when WebSockets cannot connect.
import * as store from './store.js?v=2931ea2283';

const BACKOFF_MIN = 500;
const BACKOFF_MAX = 30000;
// The server stores at most one ack a second per client (docs/protocol.md): sooner gains nothing.
const ACK_EVERY = 1000;
const WS_FAILURES_BEFORE_HTTP = 2;
// On the long-poll, sockets are tried after 3 s, 6, 12, … up to 30 s (back in seconds after an outage).
const WS_PROBE_MS = 30000;
const WS_PROBE_FIRST_MS = 3000;
const POLL_WAIT = 25;
const SEEN_TTL = 10 * 60 * 1000;
const SEEN_MAX = 5000;
const FATAL_SEND_ERRORS = new Set(['not_member', 'blocked', 'not_accepting', 'member_gone', 'invalid', 'id_conflict']);
// A send refused for now (rate_limited, busy, internal, unavailable) is tried again after about this long.
const SEND_RETRY_MS = 2000;
// A send with no answer after this long is sent again (idempotent: the server answers a repeat).
const SEND_STALL_MS = 10000;
// A ping unanswered (no frame at all) this long means the replica or the path is stuck — a frozen
// process keeps its socket open — so the socket is dropped and the client resumes elsewhere.
const PONG_WAIT_MS = 10000;

const jitter = (ms) => Math.round(ms / 2 + Math.random() * (ms / 2));

export class Engine {
  /**
   * @param {{userId: string, base: string, emit: (msg: object) => void}} opts
   * base: the page origin (https://host), emit: hand a message to every tab.
   */
  constructor({ userId, base, emit }) {
    this.userId = userId;
    this.base = base;
    this.emit = emit;
    this.cursor = null;
    this.epoch = null;
    this.clientId = null;
    this.outbox = []; // send frames waiting for `sent`, in the order they were written
    this.sendWait = new Map(); // id of a conversation's first unanswered send → time before which it is not (re)sent
    this.refused = new Set(); // sends waiting out a refusal (not an unanswered send)
    this.pumpTimer = null;
    this.pumpDue = Infinity;
    this.seen = new Map(); // messageId / notification id → time received
    this.ws = null;
    this.wsLive = false;
    this.wsFailures = 0;
    this.attempt = 0;
    this.probes = 0;
    this.mode = 'connecting'; // connecting | ws | http | offline | signed_out | stopped
    this.polling = false;
    this.pollAbort = null;
    this.timers = new Set();
    this.ackTimer = null;
    this.ackedSeq = null;
    this.lastFrameAt = 0;
    this.heartbeat = 25;
    this.stopped = false;
    this.outboxLoaded = false;
    this.ready = this.init();
  }

  async init() {
    this.clientId = await store.clientId();
    const saved = await store.get('cursor:' + this.userId);
    if (saved && typeof saved.cursor === 'number') {
      this.cursor = saved.cursor;
      this.epoch = saved.epoch ?? null;
    }
    // sends that came before it was read (a new leader's tab) go after it, not instead
    const outbox = await store.get('outbox:' + this.userId);
    if (this.outboxForgotten) return; // signed out meanwhile: nothing is kept, nothing connects
    if (Array.isArray(outbox)) {
      const stored = new Set(outbox.map((f) => f.id));
      this.outbox = [...outbox, ...this.outbox.filter((f) => !stored.has(f.id))];
    }
    this.outboxLoaded = true;
    this.saveOutbox();
    if (!this.stopped) this.connectWs();
    const onNet = () => this.network(globalThis.navigator?.onLine !== false);
    globalThis.addEventListener?.('online', onNet);
    globalThis.addEventListener?.('offline', onNet);
    this.offOnline = () => {
      globalThis.removeEventListener?.('online', onNet);
      globalThis.removeEventListener?.('offline', onNet);
    };
  }

  stop() {
    this.stopped = true;
    this.setMode('stopped');
    this.offOnline?.();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pollAbort?.abort();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try { ws.close(1000); } catch {}
    }
  }

  later(fn, ms) {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  setMode(mode) {
    if (this.mode === mode) return;
    this.mode = mode;
    this.emit(this.status());
  }

  status() {
    return { t: 'status', mode: this.mode, epoch: this.epoch, cursor: this.cursor, pending: this.outbox.map((f) => f.id) };
  }

  /**
   * The browser says the network went away or came back (tabs forward their online/offline events:
   * a worker may not get them). Offline: drop the socket at once instead of waiting for the
   * heartbeat; sends stay queued. Online: reconnect now instead of waiting for the backoff.
   */
  network(online) {
    if (this.stopped || this.mode === 'signed_out') return;
    if (online) {
      if (!this.offline) return;
      this.offline = false;
      this.kick();
      return;
    }
    if (this.offline) return;
    this.offline = true;
    if (this.ws) this.dropSocket(this.ws, true);
    this.setMode('offline');
  }

  /** Reconnect now instead of waiting for the backoff (an attempt in flight is dropped). */
  kick() {
    if (this.stopped || this.mode === 'signed_out' || this.wsLive) return;
    this.attempt = 0;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try { ws.close(); } catch {}
    }
    this.connectWs();
  }

  // ---------------------------------------------------------------------------------------
  // WebSocket

  connectWs() {
    if (this.stopped || this.ws) return;
    let ws;
    try {
      ws = new WebSocket(this.base.replace(/^http/, 'ws') + '/ws');
    } catch {
      this.wsClosed(null, 1006, false);
      return;
    }
    this.ws = ws;
    let welcomed = false;
    // A replica that accepts the connection and never answers (frozen, overloaded) must not hold
    // the client: no welcome in time, and the next attempt goes (maybe to another replica).
    this.later(() => {
      if (this.ws === ws && !welcomed) this.dropSocket(ws, false);
    }, PONG_WAIT_MS);
    ws.onopen = () => {
      const hello = { type: 'hello', clientId: this.clientId };
      if (this.cursor !== null) hello.resume = this.epoch ? { cursor: this.cursor, epoch: this.epoch } : { cursor: this.cursor };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      if (f.type === 'welcome') welcomed = true;
      this.onFrame(f);
    };
    ws.onclose = (e) => this.wsClosed(ws, e.code, welcomed);
    ws.onerror = () => {};
  }

  wsClosed(ws, code, welcomed) {
    if (ws && this.ws !== ws) return;
    this.ws = null;
    this.wsLive = false;
    clearInterval(this.pingTimer);
    if (this.stopped) return;
    if (code === 1008) {
      this.setMode('signed_out');
      return;
    }
    if (!welcomed && !this.offline) this.wsFailures++;
    if (this.wsFailures >= WS_FAILURES_BEFORE_HTTP && !this.polling) this.startPolling();
    let delay;
    if (code === 1013) delay = 0;
    else if (code === 1012 && this.reconnectAfter != null) delay = this.reconnectAfter;
    else delay = jitter(Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt++));
    this.reconnectAfter = null;
    if (this.polling) delay = Math.max(delay, jitter(Math.min(WS_PROBE_MS, WS_PROBE_FIRST_MS * 2 ** this.probes++)));
    else this.setMode(this.offline || globalThis.navigator?.onLine === false ? 'offline' : 'connecting');
    this.later(() => this.connectWs(), delay);
  }

  sendFrame(frame) {
    if (!this.ws || !this.wsLive) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  onFrame(f) {
    switch (f.type) {
      case 'welcome':
        if (this.someoneElse(f.userId)) return;
        this.wsLive = true;
        this.wsFailures = 0;
        this.attempt = 0;
        this.probes = 0;
        this.heartbeat = f.heartbeatSeconds || 25;
        this.adoptPosition(f.cursor, f.epoch);
        this.stopPolling();
        this.setMode('ws');
        this.startHeartbeat();
        this.flushOutbox();
        return;
      case 'event':
        return this.onEvent(f);
      case 'synced':
        return this.emit({ t: 'synced', seq: f.seq });
      case 'resync':
        return this.onResync(f);
      case 'sent':
        return this.onSent(f);
      case 'typing':
        return this.emit({ t: 'typing', conversationId: f.conversationId, userId: f.userId });
      case 'presence':
        return this.emit({ t: 'presence', userId: f.userId, online: f.online });
      case 'reconnect':
        this.reconnectAfter = f.afterMs;
        return;
      case 'error':
        return this.onError(f);
      default:
    }
  }

  startHeartbeat() {
    clearInterval(this.pingTimer);
    const every = Math.max(5, this.heartbeat) * 1000;
    // (a dead path is found by the ping's own deadline, even if the socket has not noticed)
    this.pingTimer = setInterval(() => {
      if (this.ws && this.wsLive) this.ping();
    }, every);
  }

  /** A ping that must be answered (by any frame) within PONG_WAIT_MS, or the socket is given up. */
  ping() {
    const ws = this.ws;
    const sentAt = Date.now();
    if (!this.sendFrame({ type: 'ping', ts: sentAt })) return;
    this.later(() => {
      if (this.ws === ws && this.wsLive && this.lastFrameAt < sentAt) this.dropSocket(ws, true);
    }, PONG_WAIT_MS);
  }

  /** Gives a socket up as if it had closed (1006), and closes it. */
  dropSocket(ws, welcomed) {
    this.wsClosed(ws, 1006, welcomed);
    try { ws.close(); } catch {}
  }

  // ---------------------------------------------------------------------------------------
  // Events, cursor, acks

  adoptPosition(cursor, epoch) {
    if (typeof cursor !== 'number') return;
    if (this.cursor === null || (epoch && this.epoch && epoch !== this.epoch)) {
      this.cursor = cursor;
      this.epoch = epoch ?? this.epoch;
      this.saveCursor();
    } else if (epoch && !this.epoch) {
      this.epoch = epoch;
      this.saveCursor();
    }
  }

  onEvent(ev) {
    if (typeof ev.seq !== 'number') return;
    if (this.cursor !== null && ev.seq <= this.cursor) return; // replayed: already applied
    this.cursor = ev.seq;
    this.saveCursor();
    this.scheduleAck();
    const key = eventKey(ev);
    if (key) {
      if (this.seen.has(key)) return;
      this.remember(key);
    }
    this.emit({ t: 'event', ev, epoch: this.epoch });
  }

  remember(key) {
    const now = Date.now();
    this.seen.set(key, now);
    if (this.seen.size > SEEN_MAX) {
      for (const [k, at] of this.seen) {
        if (this.seen.size <= SEEN_MAX / 2 && now - at < SEEN_TTL) break;
        this.seen.delete(k);
      }
    }
  }

  onResync(f) {
    this.cursor = f.cursor;
    this.epoch = f.epoch ?? this.epoch;
    this.saveCursor();
    this.emit({ t: 'resync', reason: f.reason, cursor: this.cursor, epoch: this.epoch });
    this.scheduleAck();
  }

  saveCursor() {
    void store.set('cursor:' + this.userId, { cursor: this.cursor, epoch: this.epoch });
  }

  scheduleAck() {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.sendAck();
    }, this.polling && !this.wsLive ? 1000 : ACK_EVERY);
  }

  sendAck() {
    const seq = this.cursor;
    if (seq === null || seq === this.ackedSeq) return;
    if (this.sendFrame({ type: 'ack', seq })) {
      this.ackedSeq = seq;
      return;
    }
    this.http('POST', '/api/events/ack', this.epoch ? { clientId: this.clientId, seq, epoch: this.epoch } : { clientId: this.clientId, seq })
      .then((r) => { if (r.ok) this.ackedSeq = seq; })
      .catch(() => {});
  }

  // ---------------------------------------------------------------------------------------
  // Sending

  /** Requests from tabs. */
  request(msg) {
    switch (msg.t) {
      case 'send': {
        const frame = { type: 'send', id: msg.id, conversationId: msg.conversationId, body: msg.body, clientTs: msg.clientTs ?? Date.now() };
        if (!this.outbox.some((f) => f.id === frame.id)) {
          this.outbox.push(frame);
          this.saveOutbox();
        }
        this.emit({ t: 'queued', id: frame.id, conversationId: frame.conversationId });
        this.pump();
        return;
      }
      case 'read':
        if (!this.sendFrame({ type: 'read', conversationId: msg.conversationId, upToMessageId: msg.upToMessageId })) {
          this.http('POST', `/api/conversations/${encodeURIComponent(msg.conversationId)}/read`, { upToMessageId: msg.upToMessageId }).catch(() => {});
        }
        return;
      case 'typing':
        this.sendFrame({ type: 'typing', conversationId: msg.conversationId });
        return;
      case 'presence':
        this.sendFrame({ type: 'presence', userIds: msg.userIds.slice(0, 200) });
        return;
      case 'kick':
        this.kick();
        return;
      case 'net':
        this.network(!!msg.online);
        return;
      default:
    }
  }

  saveOutbox() {
    if (this.outboxLoaded) void store.set('outbox:' + this.userId, this.outbox);
  }

  /**
   * The browser's session is another member's now (this one signed out, someone else signed in,
   * and this engine's tab came back): nothing of theirs is shown here, and nothing of this
   * member's is sent as them.
   */
  someoneElse(userId) {
    if (userId === undefined || String(userId) === String(this.userId)) return false;
    this.stopPolling();
    const ws = this.ws;
    this.ws = null;
    this.wsLive = false;
    try {
      ws?.close(1000);
    } catch {}
    this.forgetOutbox();
    this.setMode('signed_out');
    return true;
  }

  /** Signing out: what was never sent is dropped, here and in storage. */
  forgetOutbox() {
    this.outbox = [];
    this.outboxForgotten = true;
    void store.set('outbox:' + this.userId, []);
  }

  /** A new connection: every unanswered send goes again, each conversation's first one now. */
  flushOutbox() {
    this.sendWait.clear();
    this.refused.clear();
    this.pump();
  }

  /**
   * Sends go out one per conversation at a time: its next message only once the one before is
   * answered. A send refused for now is then tried again before anything written after it, so a
   * conversation's messages are stored, and shown to everyone, in the order they were written.
   */
  pump() {
    if (this.stopped) return;
    const now = Date.now();
    const heads = new Set();
    let next = Infinity;
    for (const frame of this.outbox) {
      if (heads.has(frame.conversationId)) continue;
      heads.add(frame.conversationId);
      const notBefore = this.sendWait.get(frame.id) ?? 0;
      if (notBefore > now) {
        next = Math.min(next, notBefore);
        continue;
      }
      // sent before and never answered (not refused): is the socket still alive?
      if (notBefore > 0 && !this.refused.delete(frame.id) && this.wsLive) this.ping();
      if (!this.deliver(frame)) continue; // no connection: kept, and sent on reconnect
      this.sendWait.set(frame.id, now + SEND_STALL_MS);
      next = Math.min(next, now + SEND_STALL_MS);
    }
    this.schedulePump(next);
  }

  schedulePump(at) {
    if (at === Infinity || (this.pumpTimer && this.pumpDue <= at)) return;
    if (this.pumpTimer) {
      clearTimeout(this.pumpTimer);
      this.timers.delete(this.pumpTimer);
    }
    this.pumpDue = at;
    this.pumpTimer = this.later(() => {
      this.pumpTimer = null;
      this.pumpDue = Infinity;
      this.pump();
    }, Math.max(0, at - Date.now()));
  }

  /** Refused for now: this send goes again after a pause, still ahead of its conversation's later ones. */
  retrySend(id) {
    if (!this.outbox.some((f) => f.id === id)) return;
    const at = Date.now() + jitter(SEND_RETRY_MS);
    this.sendWait.set(id, at);
    this.refused.add(id);
    this.schedulePump(at);
  }

  /** true when the frame went out (over the socket, or as a POST on the HTTP fallback). */
  deliver(frame) {
    if (this.sendFrame(frame)) return true;
    if (!this.polling) return false;
    this.http('POST', '/api/messages', { id: frame.id, conversationId: frame.conversationId, body: frame.body, clientTs: frame.clientTs })
      .then(async (r) => {
        const body = await r.json().catch(() => null);
        if (r.ok && body) this.onSent({ ...body, id: body.id ?? frame.id });
        else if (r.status >= 400 && r.status < 500 && r.status !== 429) this.onError({ code: body?.error?.code ?? 'invalid', message: body?.error?.message, ref: frame.id });
        else this.retrySend(frame.id);
      })
      .catch(() => this.retrySend(frame.id));
    return true;
  }

  forgetSend(id) {
    const i = this.outbox.findIndex((x) => x.id === id);
    this.sendWait.delete(id);
    this.refused.delete(id);
    if (i < 0) return false;
    this.outbox.splice(i, 1);
    this.saveOutbox();
    return true;
  }

  onSent(f) {
    this.forgetSend(f.id);
    this.emit({ t: 'sent', id: f.id, messageId: f.messageId, conversationId: f.conversationId, ts: f.ts, seq: f.seq });
    this.pump(); // the conversation's next message
  }

  onError(f) {
    const pending = f.ref != null && this.outbox.some((x) => x.id === f.ref);
    if (pending && FATAL_SEND_ERRORS.has(f.code)) {
      this.forgetSend(f.ref);
      this.emit({ t: 'send_failed', id: f.ref, code: f.code, message: f.message });
      this.pump();
    } else if (pending) {
      this.retrySend(f.ref); // internal, unavailable, busy, rate_limited: sends are idempotent
    } else {
      // The frame budget refuses frames without saying which (`ref` null): any send still
      // unanswered may have been one of them, so each goes again after the pause.
      if (f.code === 'rate_limited') for (const id of this.sendWait.keys()) this.retrySend(id);
      this.emit({ t: 'error', code: f.code, message: f.message, ref: f.ref });
    }
  }

  // ---------------------------------------------------------------------------------------
  // HTTP fallback

  http(method, path, body) {
    return fetch(this.base + path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  startPolling() {
    if (this.polling || this.stopped) return;
    this.polling = true;
    void this.pollLoop();
  }

  stopPolling() {
    this.polling = false;
    this.pollAbort?.abort();
    this.pollAbort = null;
  }

  async pollLoop() {
    let failures = 0;
    let first = true;
    while (this.polling && !this.stopped) {
      const q = new URLSearchParams({ wait: first ? '0' : String(POLL_WAIT), clientId: this.clientId });
      if (this.cursor !== null) q.set('after', String(this.cursor));
      if (this.epoch) q.set('epoch', this.epoch);
      const ctrl = new AbortController();
      this.pollAbort = ctrl;
      let res = null;
      let body = null;
      try {
        res = await fetch(`${this.base}/api/events?${q}`, { credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal });
        body = res.ok ? await res.json() : null;
      } catch {
        res = null;
      }
      if (!this.polling || this.stopped) return;
      if (res && (res.status === 401 || res.status === 403)) {
        this.stopPolling();
        this.setMode('signed_out');
        return;
      }
      if (!body) {
        failures++;
        this.setMode(globalThis.navigator?.onLine === false ? 'offline' : 'connecting');
        await new Promise((r) => this.later(r, jitter(Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** failures))));
        continue;
      }
      failures = 0;
      if (this.someoneElse(body.userId)) return;
      if (body.resync) {
        this.onResync({ reason: body.resync.reason, cursor: body.cursor, epoch: body.epoch });
      } else {
        this.adoptPosition(body.cursor, body.epoch);
        for (const ev of body.events ?? []) this.onEvent(ev);
      }
      if (!this.wsLive) {
        this.setMode('http');
        this.pump(); // unanswered sends (a POST with no answer yet is not repeated before its time)
      }
      first = false;
    }
  }
}

/** A stable identity for the thing an event shows, so one item is never shown twice. */
function eventKey(ev) {
  const d = ev.data ?? {};
  if (ev.kind === 'message' && d.messageId) return 'm:' + d.messageId;
  if (ev.kind === 'notification' && d.notification?.id) return `n:${d.notification.id}:${d.notification.count ?? 1}`;
  return null;
}
