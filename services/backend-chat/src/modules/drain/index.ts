/**
 * SIGTERM drain: stop taking upgrades, report not-ready, then close sockets in waves, each told
 * when to come back (jittered), so clients land on the other replicas without a storm.
 */
import { createLogger } from "@xplicit/shared/log";
import { frame, type Hub } from "../connections/index.ts";

const log = createLogger("drain");

export function createDrain(hub: Hub) {
  let draining = false;

  async function drain(): Promise<void> {
    if (draining) return;
    draining = true;
    const { drainWaveSize, drainWaveMs } = hub.deps.config.chat;
    const sockets = [...hub.all];
    const waves = Math.ceil(sockets.length / drainWaveSize);
    log.info("draining", { sockets: sockets.length, waves });
    for (let i = 0; i < sockets.length; i += drainWaveSize) {
      for (const conn of sockets.slice(i, i + drainWaveSize)) {
        conn.sendControl(frame.reconnect(Math.floor(100 + Math.random() * Math.max(500, waves * drainWaveMs))), "reconnect");
        conn.close(1012, "replica draining");
      }
      if (drainWaveMs > 0) await Bun.sleep(drainWaveMs);
    }
    for (let i = 0; i < 40 && hub.all.size > 0; i++) await Bun.sleep(50);
    await hub.deps.presence.forgetReplica(hub.deps.config.chat.replicaName, [...hub.members.keys()]).catch(() => {});
    // the acks the closed sockets sent since the last flush: a client that comes back without its
    // cursor resumes from them on another replica
    hub.acks.stop();
    await hub.acks.flush();
    log.info("drained", { remaining: hub.all.size });
  }

  return { drain, isDraining: () => draining };
}
