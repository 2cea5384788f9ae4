import { presenceFrame } from "@xplicit/shared/modules/presence";

/** Server → client frames that are not durable events (those come pre-serialised from Redis). */
export const frame = {
  welcome: (f: { connId: string; userId: string; cursor: number; epoch: string; replica: string; heartbeatSeconds: number; limits: Record<string, number> }) =>
    JSON.stringify({ type: "welcome", v: 1, ...f }),
  synced: (seq: number) => `{"type":"synced","seq":${seq}}`,
  resync: (reason: string, cursor: number, epoch: string) => JSON.stringify({ type: "resync", reason, cursor, epoch }),
  error: (code: string, message: string, ref?: string | null) => JSON.stringify({ type: "error", code, message, ref: ref ?? null }),
  pong: (ts: unknown) => JSON.stringify({ type: "pong", ts: typeof ts === "number" ? ts : Date.now() }),
  reconnect: (afterMs: number) => `{"type":"reconnect","afterMs":${afterMs}}`,
  typing: (conversationId: string, userId: string) => JSON.stringify({ type: "typing", conversationId, userId }),
  presence: presenceFrame,
};

export const EVENT_PREFIX = '{"type":"event"';

/** Event timestamp (ms) from a pre-serialised event frame, for the latency histogram. */
export function frameTs(f: string): number {
  const i = f.indexOf('"ts":');
  return i < 0 ? 0 : Number.parseInt(f.slice(i + 5, i + 20), 10);
}
