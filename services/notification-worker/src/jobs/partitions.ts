/** `partitions`: keep monthly partitions ahead, drop the ones past the retention. */
import { dropExpiredPartitions, ensurePartitions } from "@xplicit/shared/modules/notifications";
import { createLogger } from "@xplicit/shared/log";
import type { WorkerDeps } from "../deps.ts";

const log = createLogger("notifications.partitions");

export async function maintainPartitions(deps: WorkerDeps, now = new Date()): Promise<{ created: string[]; dropped: string[] }> {
  const { partitionsAheadMonths, retentionMonths } = deps.config.notifications;
  const created = await ensurePartitions(deps.sql, now, partitionsAheadMonths);
  const dropped = await dropExpiredPartitions(deps.sql, now, retentionMonths);
  if (created.length || dropped.length) log.info("partitions maintained", { created, dropped });
  return { created, dropped };
}

export function partitionsProcessor(deps: WorkerDeps) {
  return async () => maintainPartitions(deps);
}
