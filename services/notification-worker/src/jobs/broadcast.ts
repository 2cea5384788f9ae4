/** `broadcast`: an operator announcement to every member (or those who joined since a date). */
import type { Job } from "bullmq";
import type { Sql } from "@xplicit/shared/db";
import { bigintArray, broadcastTexts, type BatchCheckpoint, type BroadcastJobData, type RecipientSource } from "@xplicit/shared/modules/notifications";
import { runBulkJob, type BulkContext } from "./bulk.ts";

function memberPages(sql: Sql, joinedSince: Date | null): RecipientSource {
  return async (after, limit) => {
    // one row per page (ids as an array, the last id as the cursor), as in `fanout`
    const [page] = await sql<{ ids: string; last: string | null }[]>`
      select coalesce(array_agg(p.id)::text, '{}') as ids, max(p.id)::text as last
      from (
        select id from users
        where true ${after ? sql`and id > ${after}` : sql``} ${joinedSince ? sql`and created_at >= ${joinedSince}` : sql``}
        order by id limit ${limit}
      ) p`;
    return { ids: bigintArray(page!.ids), cursor: page!.last };
  };
}

/** The job's checkpoint, kept in the broadcast's row too (recovery.ts re-enqueues from it). */
async function keepCheckpoint(sql: Sql, broadcastId: string, cp: BatchCheckpoint): Promise<void> {
  await sql`
    update broadcasts set checkpoint_cursor = ${cp.cursor}, recipients_written = ${cp.written}, recipients_scanned = ${cp.scanned}
    where id = ${broadcastId}`;
}

export function broadcastProcessor(ctx: BulkContext) {
  const { sql } = ctx.deps;
  return async (job: Job<BroadcastJobData>, token?: string) => {
    const d = job.data;
    const occurredAt = new Date(d.occurredAt);
    const since = d.joinedSince ? new Date(d.joinedSince) : null;
    const text = (await broadcastTexts(sql, [d.broadcastId])).get(d.broadcastId);
    if (!text) throw new Error(`broadcast ${d.broadcastId} does not exist`);
    const [count] = await sql<{ n: number }[]>`
      select count(*)::int as n from users ${since ? sql`where created_at >= ${since}` : sql``}`;
    const result = await runBulkJob(ctx, job, token, memberPages(sql, since), {
      type: "broadcast",
      actorId: null,
      subjectId: d.broadcastId,
      dedupeKey: `broadcast:${d.broadcastId}`,
      occurredAt,
      view: {
        type: "broadcast", actor: null, actors: [], subjectId: d.broadcastId, count: 1,
        createdAt: occurredAt.toISOString(), updatedAt: occurredAt.toISOString(), read: false, broadcast: text,
      },
    }, count?.n ?? null, (cp) => keepCheckpoint(sql, d.broadcastId, cp));
    // (a run repeated after a lost lock keeps the first finish time)
    await sql`update broadcasts set recipients_written = ${result.written}, finished_at = coalesce(finished_at, now()) where id = ${d.broadcastId}`;
    return result;
  };
}
