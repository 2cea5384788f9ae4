/** `partitions` (daily): keep monthly partitions ahead, drop the ones past the retention, and the day-old counted-event marks. */
import { dropExpiredPartitions, ensurePartitions, forgetOldCountedEvents } from "@xplicit/shared/modules/notifications";
import { createLogger } from "@xplicit/shared/log";
import type { WorkerDeps } from "../deps.ts";

const log = createLogger("notifications.partitions");

export async function maintainPartitions(deps: WorkerDeps, now = new Date()): Promise<{ created: string[]; dropped: string[] }> {
  const { partitionsAheadMonths, retentionMonths } = deps.config.notifications;
  const created = await ensurePartitions(deps.sql, now, partitionsAheadMonths);
  const dropped = await dropExpiredPartitions(deps.sql, now, retentionMonths);
  // (a clean-up that fails is tried again the next day: it must never keep the worker from starting)
  const marks = await forgetOldCountedEvents(deps.sql).catch((err: Error) => {
    log.warn("old counted-event records not dropped", { error: err.message });
    return 0;
  });
  if (created.length || dropped.length || marks) log.info("partitions maintained", { created, dropped, countedMarksDropped: marks });
  return { created, dropped };
}

export function partitionsProcessor(deps: WorkerDeps) {
  return async () => maintainPartitions(deps);
}
