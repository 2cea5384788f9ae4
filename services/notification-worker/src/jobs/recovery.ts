/**
 * What a Redis that lost its data (a restart without persistence) took with it: BullMQ jobs and
 * the partitions schedule. Every minute a worker looks for broadcasts that never finished and
 * whose job is gone, and enqueues them again from the checkpoint kept in their row (pages already
 * written are found and not written twice: batches.ts); and it sets the partitions schedule again
 * (idempotent). Several workers may do this at once: the job id is the broadcast's, so a broadcast
 * is enqueued once.
 */
import type { Queue } from "bullmq";
import type { Sql } from "@xplicit/shared/db";
import { createLogger } from "@xplicit/shared/log";
import { BROADCAST_JOB_OPTIONS, FAILED_JOB_KEPT_SECONDS, broadcastJobId, JOB_NAMES, type BroadcastJobData } from "@xplicit/shared/modules/notifications";

const log = createLogger("notifications.recovery");

/** A broadcast younger than this may still be on its way into the queue (the api inserts, then enqueues). */
const GRACE_SECONDS = 30;

interface Unfinished {
  id: string;
  joined_since: Date | null;
  created_at: Date;
  checkpoint_cursor: string | null;
  recipients_written: string;
  recipients_scanned: string;
}

/** Re-enqueues unfinished broadcasts whose job Redis no longer has; the ids it enqueued. */
export async function requeueLostBroadcasts(sql: Sql, queue: Queue<BroadcastJobData>): Promise<string[]> {
  const rows = await sql<Unfinished[]>`
    select id, joined_since, created_at, checkpoint_cursor, recipients_written, recipients_scanned
    from broadcasts
    where finished_at is null and created_at < now() - make_interval(secs => ${GRACE_SECONDS})
      -- a job that failed for good is removed after FAILED_JOB_KEPT_SECONDS: not a lost one to resend
      and created_at > now() - make_interval(secs => ${FAILED_JOB_KEPT_SECONDS - 86_400})
    order by id limit 100`;
  const requeued: string[] = [];
  for (const r of rows) {
    const jobId = broadcastJobId(r.id);
    if (await queue.getJob(jobId)) continue;
    const data: BroadcastJobData = {
      broadcastId: r.id,
      joinedSince: r.joined_since?.toISOString() ?? null,
      // the first enqueue's time (api: the row's created_at): the rows' dedupe keys depend on it
      occurredAt: r.created_at.getTime(),
      cursor: r.checkpoint_cursor,
      written: Number(r.recipients_written),
      scanned: Number(r.recipients_scanned),
    };
    await queue.add(JOB_NAMES.broadcast, data, { ...BROADCAST_JOB_OPTIONS, jobId });
    log.warn("broadcast re-enqueued: its job was gone (Redis lost its data?)", { broadcastId: r.id, cursor: r.checkpoint_cursor });
    requeued.push(r.id);
  }
  return requeued;
}

const PARTITIONS_EVERY_MS = 6 * 3600 * 1000;

/** The repeatable `partitions` job (idempotent: setting it again changes nothing). */
export async function schedulePartitions(maintenance: Queue): Promise<void> {
  await maintenance.upsertJobScheduler("partitions", { every: PARTITIONS_EVERY_MS }, { name: JOB_NAMES.partitions, data: {} });
}

/** The minute's sweep: the partitions schedule set again, lost broadcasts enqueued again. */
export async function recoverLostJobs(sql: Sql, queues: { maintenance: Queue; broadcast: Queue<BroadcastJobData> }): Promise<string[]> {
  await schedulePartitions(queues.maintenance);
  return requeueLostBroadcasts(sql, queues.broadcast);
}
