/**
 * The acks of every socket on this replica, written to Redis together once a second (and when the
 * replica stops) instead of a command per socket. Stored acks only serve a client that lost its
 * own cursor, so a second's delay costs nothing that matters.
 */
import type { EventStream, StoredAck } from "@xplicit/shared/modules/events";

const ACK_FLUSH_MS = 1000;

export class AckBuffer {
  /** member + clientId → the highest ack seen since the last flush */
  private pending = new Map<string, StoredAck>();
  private timer: Timer | null = null;

  constructor(private readonly events: EventStream) {}

  /** `epoch`: the stream the socket's cursor counts in; an ack of a newer one replaces an older one's. */
  note(userId: string, clientId: string, seq: number, epoch: string): void {
    const key = `${userId}\n${clientId}`;
    const held = this.pending.get(key);
    if (held && held.epoch === epoch) held.seq = Math.max(held.seq, seq);
    else this.pending.set(key, { userId, clientId, seq, epoch });
  }

  /** Writes what is pending; a failed write is dropped (the next acks carry the same information). */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const acks = [...this.pending.values()];
    this.pending = new Map();
    await this.events.storeAcks(acks).catch(() => {});
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), ACK_FLUSH_MS);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
