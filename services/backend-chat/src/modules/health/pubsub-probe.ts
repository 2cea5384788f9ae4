/**
 * The replica publishes to itself through Redis every few seconds. A green /readyz then means
 * delivery through pub/sub works right now, not merely that Redis answers PING.
 */
import type { ChatDeps } from "../../deps.ts";

export function createPubSubProbe(deps: ChatDeps, intervalMs = 2000, staleAfterMs = 10_000) {
  const channel = deps.keys.replicaChannel(deps.config.chat.replicaName);
  let lastOkAt = 0;
  let lastRttMs: number | null = null;
  let timer: Timer | null = null;

  deps.subscriber.on("message", (ch: string, msg: string) => {
    if (ch !== channel) return;
    lastRttMs = Math.round((performance.now() - Number(msg)) * 100) / 100;
    lastOkAt = Date.now();
  });

  async function start(): Promise<void> {
    await deps.subscriber.subscribe(channel);
    const tick = () => void deps.redis.publish(channel, String(performance.now())).catch(() => {});
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
