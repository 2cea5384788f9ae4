/**
 * The replica publishes to itself through Redis every few seconds. A green /readyz then means
 * delivery through pub/sub works right now, not merely that Redis answers PING. While the round
 * trip keeps failing, `onStale` is called every `staleAfterMs` (the hub subscribes everything
 * again) and the probe subscribes its own channel again: a subscriber that lost its channels
 * without losing its connection is never repaired by the client library's reconnect logic.
 */
import type { ChatDeps } from "../../deps.ts";

export interface PubSubProbeOptions {
  intervalMs?: number;
  staleAfterMs?: number;
  onStale?: () => Promise<void>;
}

export function createPubSubProbe(deps: ChatDeps, opts: PubSubProbeOptions = {}) {
  const intervalMs = opts.intervalMs ?? 2000;
  const staleAfterMs = opts.staleAfterMs ?? 10_000;
  let lastRepairAt = 0;
  let startedAt = 0;
  const channel = deps.keys.replicaChannel(deps.config.chat.replicaName);
  let lastOkAt = 0;
  let lastRttMs: number | null = null;
  let timer: Timer | null = null;

  deps.subscriber.on("message", (ch: string, msg: string) => {
    if (ch !== channel) return;
    lastRttMs = Math.round((performance.now() - Number(msg)) * 100) / 100;
    lastOkAt = Date.now();
  });

  function repairIfStale(): void {
    const now = Date.now();
    if (now - Math.max(lastOkAt, startedAt) <= staleAfterMs || now - lastRepairAt < staleAfterMs) return;
    lastRepairAt = now;
    void deps.subscriber.subscribe(channel).catch(() => {});
    void opts.onStale?.().catch(() => {});
  }

  async function start(): Promise<void> {
    await deps.subscriber.subscribe(channel);
    startedAt = Date.now();
    const tick = () => {
      repairIfStale();
      void deps.redis.publish(channel, String(performance.now())).catch(() => {});
    };
    tick();
    timer = setInterval(tick, intervalMs);
  }

  return {
    start,
    stop: () => timer && clearInterval(timer),
    check: async () => {
      if (Date.now() - lastOkAt > staleAfterMs) throw new Error(`no pub/sub round trip for ${lastOkAt ? Date.now() - lastOkAt : "ever"} ms`);
    },
    status: () => ({ rttMs: lastRttMs, lastOkAgoMs: lastOkAt ? Date.now() - lastOkAt : null }),
  };
}
