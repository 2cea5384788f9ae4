/**
 * The replica publishes to itself through Redis every few seconds. A green /readyz then means
 * delivery through pub/sub works right now, not merely that Redis answers PING. While the round
 * trip keeps failing, `onStale` is called every `staleAfterMs` (the hub subscribes everything
 * again) and the probe subscribes its own channel again: a subscriber that lost its channels
 * without losing its connection is never repaired by the client library's reconnect logic. When
 * that did not help either (the connection is half-open: a dropped NAT or conntrack entry, no error
 * ever raised, every SUBSCRIBE unanswered), the subscriber connection is dropped and made again; the
 * client library subscribes everything on the new one, and the hub refills every socket.
 *
 * A replica cut off from Redis for `lostAfterMs` (a partition that leaves the other replicas
 * working) cannot deliver, store nor confirm anything: `onLost` is called once, so its clients can
 * move to a replica that can, and `isCutOff` refuses new ones until a round trip works again. Only
 * when another replica said lately, in Postgres, that its round trip works: when none did, Redis
 * is down for every replica, and sending everyone away would only make them all come back at once.
 *
 * Silence is counted on the monotonic clock, and from the latest of: the start, the last round
 * trip, and the moment a process that had been stopped (SIGSTOP, a paused VM, a long block) runs
 * again — it heard nothing because it was not running, and 35 s frozen had it send every client away
 * 40 ms after waking, 25 ms before its first probe came back.
 */
import { createLogger } from "@xplicit/shared/log";
import type { ChatDeps } from "../../deps.ts";

const log = createLogger("health");

/** A replica whose round trip works says so this often; a word older than PEER_FRESH_SECONDS is stale. */
const REPORT_EVERY_MS = 5_000;
const PEER_FRESH_SECONDS = 15;

export interface PubSubProbeOptions {
  intervalMs?: number;
  staleAfterMs?: number;
  onStale?: () => Promise<void>;
  /** no round trip for this long: the replica is cut off (0: never) */
  lostAfterMs?: number;
  onLost?: () => Promise<void>;
}

export function createPubSubProbe(deps: ChatDeps, opts: PubSubProbeOptions = {}) {
  const intervalMs = opts.intervalMs ?? 2000;
  const staleAfterMs = opts.staleAfterMs ?? 10_000;
  const lostAfterMs = opts.lostAfterMs ?? 0;
  let lost = false;
  let askingPeers = false;
  let reportedAt = -Infinity;
  const replica = deps.config.chat.replicaName;
  let lastRepairAt = 0;
  /** silence counts from here: the start, or the last time the process resumed after being stopped */
  let countingFrom = 0;
  let lastTickAt = 0;
  const channel = deps.keys.replicaChannel(deps.config.chat.replicaName);
  let lastOkAt = 0;
  let lastRttMs: number | null = null;
  let timer: Timer | null = null;

  deps.subscriber.on("message", (ch: string, msg: string) => {
    if (ch !== channel) return;
    lastRttMs = Math.round((performance.now() - Number(msg)) * 100) / 100;
    lastOkAt = performance.now();
    if (lost) log.info("pub/sub round trip works again: taking connections", {});
    lost = false;
    if (lastOkAt - reportedAt >= REPORT_EVERY_MS) {
      reportedAt = lastOkAt;
      void reportHealthy().catch(() => (reportedAt = -Infinity));
    }
  });

  async function reportHealthy(): Promise<void> {
    await deps.sql`
      insert into chat_replica_health (replica, pubsub_ok_at) values (${replica}, now())
      on conflict (replica) do update set pubsub_ok_at = now()`;
  }

  /** Another replica's round trip worked lately (Postgres unreachable too: none is known to). */
  async function aPeerWorks(): Promise<boolean> {
    const rows = await deps.sql`
      select 1 from chat_replica_health
      where replica <> ${replica} and pubsub_ok_at > now() - make_interval(secs => ${PEER_FRESH_SECONDS})
      limit 1`.catch(() => []);
    return rows.length > 0;
  }

  /** Repairs since the last round trip that worked. */
  let repairsInARow = 0;

  /** Cut off (no round trip for `lostAfterMs`): the clients are told once to go elsewhere. */
  function shedIfLost(now: number): void {
    if (lost || askingPeers || lostAfterMs <= 0 || silentFor(now) <= lostAfterMs) return;
    askingPeers = true;
    void aPeerWorks()
      .then((peer) => {
        // (a round trip may have worked while Postgres was asked)
        if (!peer || silentFor(performance.now()) <= lostAfterMs) return;
        lost = true;
        log.warn("no pub/sub round trip: this replica is cut off from Redis; its clients are sent to the others", { staleMs: Math.round(silentFor(performance.now())) });
        void opts.onLost?.().catch(() => {});
      })
      .finally(() => (askingPeers = false));
  }

  function silentFor(now: number): number {
    return now - Math.max(lastOkAt, countingFrom);
  }

  function repairIfStale(): void {
    const now = performance.now();
    // ticks far apart: the process was stopped, and nothing could have been heard meanwhile
    if (lastTickAt && now - lastTickAt > intervalMs * 3) {
      log.info("the replica ran again after a pause: pub/sub silence counted from now", { pausedMs: Math.round(now - lastTickAt) });
      countingFrom = now;
    }
    lastTickAt = now;
    shedIfLost(now);
    if (silentFor(now) <= staleAfterMs) {
      repairsInARow = 0;
      return;
    }
    if (now - lastRepairAt < staleAfterMs) return;
    lastRepairAt = now;
    // every other repair, from the second on, on a new connection (commands wait for it)
    if (++repairsInARow % 2 === 0) {
      log.warn("pub/sub still failing after subscribing again: reconnecting the subscriber", { staleMs: Math.round(silentFor(now)) });
      deps.subscriber.disconnect(true);
    }
    void deps.subscriber.subscribe(channel).catch(() => {});
    void opts.onStale?.().catch(() => {});
  }

  async function start(): Promise<void> {
    await deps.subscriber.subscribe(channel);
    countingFrom = performance.now();
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
    /** cut off from Redis for `lostAfterMs`, with no round trip since */
    isCutOff: () => lost,
    check: async () => {
      const now = performance.now();
      if (!lastOkAt || now - lastOkAt > staleAfterMs) throw new Error(`no pub/sub round trip ${lastOkAt ? `for ${Math.round(now - lastOkAt)} ms` : "yet"}`);
    },
    status: () => ({ rttMs: lastRttMs, lastOkAgoMs: lastOkAt ? Math.round(performance.now() - lastOkAt) : null }),
  };
}
