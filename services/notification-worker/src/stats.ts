/** Throughput figures for /status and /metrics: rows and live events per second, last batch. */
import { counter, gauge, histogram } from "@xplicit/shared/metrics";

const rowsTotal = counter("notifications_rows_written_total", "Notification rows written", ["queue"]);
const liveTotal = counter("notifications_live_events_total", "Live notification events published", ["queue"]);
const batchSeconds = histogram("notifications_batch_seconds", "Duration of one fan-out/broadcast batch", [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
export const queueJobs = gauge("notifications_queue_jobs", "Jobs per queue and state", ["queue", "state"]);

const WINDOW_MS = 10_000;

export function createStats() {
  const recent: { at: number; rows: number; live: number }[] = [];
  let lastBatch: { rows: number; ms: number; at: string } | null = null;
  let totalRows = 0;
  let totalLive = 0;

  function prune(now: number) {
    while (recent.length && recent[0]!.at < now - WINDOW_MS) recent.shift();
  }

  return {
    written(queue: string, rows: number, live: number) {
      const now = Date.now();
      recent.push({ at: now, rows, live });
      prune(now);
      totalRows += rows;
      totalLive += live;
      rowsTotal.inc({ queue }, rows);
      liveTotal.inc({ queue }, live);
    },
    batch(rows: number, ms: number) {
      lastBatch = { rows, ms: Math.round(ms * 10) / 10, at: new Date().toISOString() };
      batchSeconds.observe(ms / 1000);
    },
    snapshot() {
      const now = Date.now();
      prune(now);
      const rows = recent.reduce((s, r) => s + r.rows, 0);
      const live = recent.reduce((s, r) => s + r.live, 0);
      return {
        rowsPerSecond: Math.round(rows / (WINDOW_MS / 1000)),
        liveEventsPerSecond: Math.round(live / (WINDOW_MS / 1000)),
        rowsWritten: totalRows,
        liveEventsPublished: totalLive,
        lastBatch,
      };
    },
  };
}

export type Stats = ReturnType<typeof createStats>;
