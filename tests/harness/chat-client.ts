/**
 * A protocol-speaking test client (docs/protocol.md): keeps its cursor, acks, collects events,
 * and lets a test wait for a condition with a timeout instead of sleeping.
 */
import { ORIGIN } from "./api.ts";

export interface Frame {
  type: string;
  [k: string]: any;
}

export class ChatClient {
  ws!: WebSocket;
  frames: Frame[] = [];
  /** when the server last said it dropped frames (it says so at most once a second) */
  private lastRateLimitedAt = 0;
  events: Frame[] = [];
  cursor = 0;
  epoch = "";
  closeCode: number | null = null;
  closeReason = "";
  autoAck = true;
  private waiters: (() => void)[] = [];

  constructor(readonly wsUrl: string, readonly cookie: string, readonly clientId = `test-${crypto.randomUUID()}`) {}

  /** Opens the socket; resolves on open, rejects with the HTTP status on a refused upgrade. */
  connect(headers: Record<string, string> = {}): Promise<this> {
    this.closeCode = null;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.wsUrl, { headers: { Origin: ORIGIN, Cookie: this.cookie, ...headers } } as never);
      this.ws = ws;
      ws.onopen = () => resolve(this);
      ws.onerror = (e) => reject(new Error(`websocket error: ${(e as ErrorEvent).message ?? "refused"}`));
      ws.onclose = (e) => {
        this.closeCode = e.code;
        this.closeReason = e.reason;
        this.wake();
      };
      ws.onmessage = (e) => this.onFrame(JSON.parse(String(e.data)) as Frame);
    });
  }

  private onFrame(f: Frame): void {
    this.frames.push(f);
    if (f.type === "error" && f.code === "rate_limited") this.lastRateLimitedAt = Date.now();
    if (f.type === "event") {
      if (f.seq > this.cursor) {
        this.events.push(f);
        this.cursor = f.seq;
      }
      if (this.autoAck) this.send({ type: "ack", seq: this.cursor });
    } else if (f.type === "welcome") {
      this.epoch = f.epoch;
    } else if (f.type === "resync") {
      this.cursor = f.cursor;
      this.epoch = f.epoch;
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(obj: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof obj === "string" ? obj : JSON.stringify(obj));
  }

  async hello(resume = true): Promise<Frame> {
    const before = this.frames.length;
    this.send({ type: "hello", clientId: this.clientId, ...(resume && (this.cursor || this.epoch) ? { resume: { cursor: this.cursor, epoch: this.epoch } } : {}) });
    await this.waitFor(() => this.frames.slice(before).some((f) => f.type === "synced"), 10_000, "synced");
    return this.frames.slice(before).find((f) => f.type === "welcome")!;
  }

  async waitFor(pred: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  messages(): Frame[] {
    return this.events.filter((e) => e.kind === "message");
  }

  /**
   * Sends and waits for the answer. Like a real client (docs/protocol.md), a send the rate limit
   * may have dropped — the server says so with at most one `rate_limited` error a second, so the
   * error may predate this send by up to a second — is sent again with the same id after a while:
   * repeats are answered, never stored twice. A send dropped with no such error near it is a server
   * bug, and this waits for its answer without resending, so the test fails.
   */
  async sendMessage(conversationId: string, body: string, id: string = crypto.randomUUID()): Promise<Frame> {
    const deadline = Date.now() + 30_000;
    let answer: Frame | undefined;
    const answered = () => !!(answer = this.frames.find((f) => (f.type === "sent" || f.type === "error") && (f.id === id || f.ref === id)));
    for (;;) {
      const sentAt = Date.now();
      this.send({ type: "send", id, conversationId, body });
      try {
        await this.waitFor(answered, Math.min(2_000, Math.max(0, deadline - Date.now())), `sent ${id}`);
        return answer!;
      } catch (err) {
        const limited = this.lastRateLimitedAt >= sentAt - 1_000;
        if (!limited || deadline - Date.now() <= 0) {
          await this.waitFor(answered, Math.max(0, deadline - Date.now()), `sent ${id}`);
          return answer!;
        }
      }
    }
  }

  close(): void {
    try {
      this.ws.close(1000);
    } catch {}
  }

  async closed(timeoutMs = 10_000): Promise<number> {
    await this.waitFor(() => this.closeCode !== null, timeoutMs, "close");
    return this.closeCode!;
  }
}
