/** `fanout`: one actor's event to every follower, keyset-paged over the follows index. */
import type { Job } from "bullmq";
import { getMemberCards } from "@xplicit/shared/modules/profiles";
import { followCountsOf } from "@xplicit/shared/modules/social";
import { bigintArray, type FanoutJobData, type RecipientSource } from "@xplicit/shared/modules/notifications";
import { runBulkJob, type BulkContext } from "./bulk.ts";

export function fanoutProcessor(ctx: BulkContext) {
  const { sql } = ctx.deps;
  return async (job: Job<FanoutJobData>, token?: string) => {
    const d = job.data;
    const occurredAt = new Date(d.occurredAt);
    const card = (await getMemberCards(sql, [d.actorId])).get(d.actorId);
    const actor = card ? { id: card.id, handle: card.handle, displayName: card.displayName } : null;
    const { followerCount } = await followCountsOf(sql, d.actorId);
    // The next `limit` follow edges by id (the follows (followee_id, id) index), as one row: an
    // array of follower ids and the last edge id. Order inside a page does not matter.
    const source: RecipientSource = async (after, limit) => {
      const [page] = await sql<{ ids: string; last: string | null }[]>`
        select coalesce(array_agg(p.follower_id)::text, '{}') as ids, max(p.id)::text as last
        from (
          select id, follower_id from follows
          where followee_id = ${d.actorId} ${after ? sql`and id > ${after}` : sql``}
          order by id limit ${limit}
        ) p`;
      return { ids: bigintArray(page!.ids), cursor: page!.last };
    };
    return runBulkJob(ctx, job, token, source, {
      type: d.type,
      actorId: d.actorId,
      subjectId: d.subjectId,
      dedupeKey: d.dedupeKey,
      occurredAt,
      view: {
        type: d.type, actor, actors: actor ? [actor] : [], subjectId: d.subjectId, count: 1,
        createdAt: occurredAt.toISOString(), updatedAt: occurredAt.toISOString(), read: false,
      },
    }, followerCount);
  };
}
