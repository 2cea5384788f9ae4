// Owns the one Engine of this browser and relays between it and the tabs. Runs in the
// SharedWorker, or in the leader tab when SharedWorker does not exist.
import { Engine } from './engine.js?v=b8f1b73b92';

export class Hub {
  /** @param {string} base page origin; @param {(msg: object) => void} broadcast to every tab */
  constructor(base, broadcast) {
    this.base = base;
    this.broadcast = broadcast;
    this.engine = null;
  }

  /** A message from a tab; `reply` answers that tab only. */
  handle(msg, reply) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.t === 'hello') {
      if (typeof msg.userId !== 'string' || !msg.userId) return;
      if (this.engine?.userId !== msg.userId) {
        this.engine?.stop();
        this.engine = new Engine({ userId: msg.userId, base: this.base, emit: (m) => this.broadcast(m) });
      } else if (this.engine.mode === 'signed_out') {
        // The tab signed in again: start over with the fresh session.
        this.engine.stop();
        this.engine = new Engine({ userId: msg.userId, base: this.base, emit: (m) => this.broadcast(m) });
      }
      reply(this.engine.status());
      return;
    }
    if (msg.t === 'signout') {
      // unsent messages are not left behind on a shared computer
      this.engine?.forgetOutbox();
      this.engine?.stop();
      this.engine = null;
      this.broadcast({ t: 'status', mode: 'signed_out', epoch: null, cursor: null, pending: [] });
      return;
    }
    this.engine?.request(msg);
  }

  stop() {
    this.engine?.stop();
    this.engine = null;
  }
}
