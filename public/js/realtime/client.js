// What pages import. One connection per browser: a SharedWorker owns it; where SharedWorker does
// not exist, the tabs elect a leader with Web Locks and share its engine over BroadcastChannel;
// with neither, the tab runs an engine of its own. Pages see the same API in all three cases.
import { Hub } from './hub.js?v=1807138a43';

const CHANNEL = 'xplicit-rt';
const LOCK = 'xplicit-rt-leader';
const PENDING = 'xplicit-rt-pending:';

// Sends not yet answered, kept by the tabs in localStorage as well as by the engine: a tab closed
// (or reloaded) right after writing messages may go before the engine has them, or before the
// engine's own copy reaches IndexedDB; localStorage is written at once. The next page hands them
// to the engine again; sends are idempotent (their id), so one the engine had already sent is not
// written twice. Shared by the member's tabs: any tab that hears `sent` drops it; `send_failed`
// marks it `failed` (with why), kept for the member to retry or delete on any page, newest 50.
function readPending(userId) {
  try {
    const list = JSON.parse(localStorage.getItem(PENDING + userId) ?? '[]');
    return Array.isArray(list) ? list.filter((m) => m && typeof m.id === 'string' && m.t === 'send') : [];
  } catch {
    return [];
  }
}

function writePending(userId, change) {
  try {
    const before = readPending(userId);
    const next = change(before);
    // every tab hears every `sent`: most of them have nothing to drop, and write nothing
    if (next.length === before.length && next.every((m, i) => m === before[i])) return;
    if (next.length) localStorage.setItem(PENDING + userId, JSON.stringify(next));
    else localStorage.removeItem(PENDING + userId);
  } catch {
    // storage full or refused (some private modes): the engine's copy is the only one
  }
}

class RealtimeClient {
  constructor(userId) {
    this.userId = userId;
    this.listeners = new Map();
    this.pending = new Map(); // id → send request, until `sent` or `send_failed`
    this.lastSeq = null;
    this.epoch = null;
    this.state = { mode: 'connecting', pending: [] };
    this.transport = 'none';
    this.post = () => {};
    for (const m of readPending(userId)) if (!m.failed) this.pending.set(m.id, m);
    this.start();
    // what an earlier page wrote and nobody has confirmed yet: after `hello`, in the order written
    for (const m of this.pending.values()) this.post(m);
  }

  /** Answered, or a "Not sent" one retried or deleted: no longer pending here, nor in what the next page resends. */
  settled(id) {
    this.pending.delete(id);
    writePending(this.userId, (list) => list.filter((m) => m.id !== id));
  }

  refused(id, why) {
    this.pending.delete(id);
    writePending(this.userId, (list) => {
      const next = list.map((m) => (m.id === id ? { ...m, failed: { code: why.code, message: why.message } } : m));
      const old = new Set(next.filter((m) => m.failed).slice(0, -50).map((m) => m.id));
      return next.filter((m) => !old.has(m.id));
    });
  }

  /** The "Not sent" messages of a conversation (`failed`: why), oldest first. */
  failedIn(conversationId) {
    return readPending(this.userId).filter((m) => m.failed && m.conversationId === conversationId);
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  fire(type, ...args) {
    for (const fn of this.listeners.get(type) ?? []) {
      try { fn(...args); } catch (err) { console.error(err); }
    }
  }

  start() {
    if (typeof SharedWorker === 'function') {
      try {
        this.startShared();
        return;
      } catch {}
    }
    if (globalThis.navigator?.locks && typeof BroadcastChannel === 'function') this.startLeaderElection();
    else this.startLocal();
  }

  startShared() {
    const worker = new SharedWorker(new URL('./worker.js?v=d611c54de7', import.meta.url), { type: 'module', name: 'xplicit-rt' });
    this.transport = 'shared-worker';
    const port = worker.port;
    worker.onerror = () => {
      // The worker could not start (blocked, broken): fall back to the leader election.
      if (this.transport !== 'shared-worker') return;
      this.transport = 'none';
      if (globalThis.navigator?.locks && typeof BroadcastChannel === 'function') this.startLeaderElection();
      else this.startLocal();
    };
    port.onmessage = (e) => this.receive(e.data);
    this.post = (m) => port.postMessage(m);
    addEventListener('pagehide', () => port.postMessage({ t: 'bye' }));
    this.hello();
  }

  startLeaderElection() {
    this.transport = 'follower';
    const channel = new BroadcastChannel(CHANNEL);
    let hub = null;
    channel.onmessage = (e) => {
      const m = e.data;
      if (!m || typeof m !== 'object') return;
      if (m.out) {
        if (m.msg?.t === 'leader') this.resubmit();
        else this.receive(m.msg);
      } else if (m.req && hub) {
        hub.handle(m.msg, (reply) => out(reply));
      }
    };
    const out = (msg) => {
      channel.postMessage({ out: true, msg });
      this.receive(msg);
    };
    this.post = (msg) => {
      if (hub) hub.handle(msg, (reply) => out(reply));
      else channel.postMessage({ req: true, msg });
    };
    navigator.locks.request(LOCK, () => new Promise((release) => {
      this.transport = 'leader';
      hub = new Hub(location.origin, out);
      hub.handle({ t: 'hello', userId: this.userId }, (reply) => out(reply));
      // Followers re-register and resend what is still pending with the new leader.
      channel.postMessage({ out: true, msg: { t: 'leader' } });
      this.resubmit();
      addEventListener('pagehide', () => {
        hub.stop();
        release();
      });
    }));
    this.hello();
  }

  startLocal() {
    this.transport = 'local';
    const hub = new Hub(location.origin, (m) => this.receive(m));
    this.post = (m) => hub.handle(m, (r) => this.receive(r));
    this.hello();
  }

  hello() {
    this.post({ t: 'hello', userId: this.userId });
    if (!this.netWatch) {
      this.netWatch = true;
      const net = () => this.post({ t: 'net', online: navigator.onLine });
      addEventListener('online', net);
      addEventListener('offline', net);
    }
  }

  /**
   * A new leader: every send not answered yet goes to it, this tab's and those the other tabs
   * wrote (in localStorage, in the order written): a leader that closed took its engine's copy of
   * the messages written in its own tab with it.
   */
  resubmit() {
    this.hello();
    for (const m of readPending(this.userId)) if (!m.failed && !this.pending.has(m.id)) this.pending.set(m.id, m);
    const order = readPending(this.userId).map((m) => m.id);
    const rank = (id) => { const i = order.indexOf(id); return i < 0 ? order.length : i; };
    for (const m of [...this.pending.values()].sort((a, b) => rank(a.id) - rank(b.id))) this.post(m);
  }

  receive(m) {
    if (!m || typeof m !== 'object') return;
    switch (m.t) {
      case 'event': {
        const ev = m.ev;
        if (m.epoch && m.epoch !== this.epoch) {
          if (this.epoch !== null) this.lastSeq = null;
          this.epoch = m.epoch;
        }
        if (this.lastSeq !== null && ev.seq <= this.lastSeq) return; // seen in this tab already
        this.lastSeq = ev.seq;
        this.fire('event', ev);
        this.fire(ev.kind, ev.data, ev);
        return;
      }
      case 'status':
        this.state = m;
        if (m.epoch && this.epoch && m.epoch !== this.epoch) this.lastSeq = null;
        if (m.epoch) this.epoch = m.epoch;
        this.fire('status', m);
        return;
      case 'resync':
        this.lastSeq = m.cursor;
        this.epoch = m.epoch ?? this.epoch;
        this.fire('resync', m);
        return;
      case 'sent':
        this.settled(m.id);
        this.fire('sent', m);
        return;
      case 'send_failed':
        this.refused(m.id, m);
        this.fire('send_failed', m);
        return;
      default:
        this.fire(m.t, m);
    }
  }

  /** Queues a message; returns its client id (the `clientMsgId` of the resulting event). */
  send(conversationId, body) {
    const id = crypto.randomUUID();
    const m = { t: 'send', id, conversationId, body, clientTs: Date.now() };
    this.pending.set(id, m);
    writePending(this.userId, (list) => [...list, m]);
    this.post(m);
    return id;
  }

  read(conversationId, upToMessageId) {
    this.post({ t: 'read', conversationId, upToMessageId });
  }

  typing(conversationId) {
    this.post({ t: 'typing', conversationId });
  }

  presence(userIds) {
    this.post({ t: 'presence', userIds });
  }

  signOut() {
    // unsent messages are not left behind on a shared computer
    writePending(this.userId, () => []);
    this.post({ t: 'signout' });
  }
}

let shared = null;

/** The page's client for the signed-in member (one per page). */
export function realtime(userId) {
  if (!shared || shared.userId !== userId) shared = new RealtimeClient(userId);
  globalThis.__xplicitRealtime = shared; // for tests and debugging in the console
  return shared;
}
