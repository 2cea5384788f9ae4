/**
 * SIGTERM drain: stop taking upgrades, report not-ready, then close sockets in waves, each told
 * when to come back (jittered), so clients land on the other replicas without a storm. A replica
 * cut off from Redis sheds its sockets the same way.
 */
import { createLogger } from "@xplicit/shared/log";
import { frame, type Hub } from "../connections/index.ts";

const log = createLogger("drain");
/** How long past the waves a drained replica's members stay online through it (their clients reconnect meanwhile). */
const LINGER_MARGIN_MS = 5_000;
/** At most this long, so the drain ends well inside the replica's shutdown time (SHUTDOWN_TIMEOUT_MS + 20 s). */
const LINGER_MAX_MS = 20_000;

export function createDrain(hub: Hub) {
  let draining = false;

  /** Closes every socket in waves, each told when to come back (jittered), then 1012. */
  async function closeInWaves(what: string, closeReason: string, keepGoing: () => boolean = () => true): Promise<void> {
    const { drainWaveSize, drainWaveMs } = hub.deps.config.chat;
    const sockets = [...hub.all];
    const waves = Math.ceil(sockets.length / drainWaveSize);
    log.info(what, { sockets: sockets.length, waves });
    for (let i = 0; i < sockets.length && keepGoing(); i += drainWaveSize) {
      for (const conn of sockets.slice(i, i + drainWaveSize)) {
        conn.sendControl(frame.reconnect(Math.floor(100 + Math.random() * Math.max(500, waves * drainWaveMs))), "reconnect");
        conn.close(1012, closeReason);
      }
      if (drainWaveMs > 0) await Bun.sleep(drainWaveMs);
    }
  }

  /** Long enough for every client to be told, wait its jittered `afterMs` and connect elsewhere. */
  function lingerMs(): number {
    const { drainWaveSize, drainWaveMs } = hub.deps.config.chat;
    const spreadMs = Math.max(500, Math.ceil(hub.all.size / drainWaveSize) * drainWaveMs);
    return Math.min(2 * spreadMs + LINGER_MARGIN_MS, LINGER_MAX_MS);
  }

  async function drain(): Promise<void> {
    if (draining) return;
    draining = true;
    // A planned move is not "gone": partners see no offline flicker, and what is sent meanwhile
    // makes no "you have a message" for members whose client is back elsewhere a moment later.
    // Once that time is up, the members who did not come back are offline, and said so.
    const lingerEnd = performance.now() + lingerMs();
    await hub.leaveSoon(Math.ceil((lingerEnd - performance.now()) / 1000) + 1).catch(() => {});
    await closeInWaves("draining", "replica draining");
    for (let i = 0; i < 40 && hub.all.size > 0; i++) await Bun.sleep(50);
    await Bun.sleep(Math.max(0, lingerEnd - performance.now()));
    await hub.endLinger().catch((err: Error) => log.warn("the drained members' presence was left to expire", { error: err.message }));
    // the acks the closed sockets sent since the last flush: a client that comes back without its
    // cursor resumes from them on another replica
    hub.acks.stop();
    await hub.acks.flush();
    log.info("drained", { remaining: hub.all.size });
  }

  /**
   * A replica cut off from Redis sends its clients to the others (the edge passes their upgrades
   * on while this one refuses them); unlike a drain, it takes connections again once it is back.
   */
  async function shed(stillCutOff: () => boolean): Promise<void> {
    if (!draining) await closeInWaves("shedding", "replica cut off from Redis", () => !draining && stillCutOff());
  }

  return { drain, shed, isDraining: () => draining };
}
