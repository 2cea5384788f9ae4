/**
 * The bulk write loop behind `fanout` and `broadcast` jobs: page through recipients by keyset,
 * write each page with one statement, deliver it, checkpoint the cursor. The next page is read
 * while the current one is written, and up to `parallel` pages are in flight at once: inserts run
 * one after another (concurrent bulk inserts into one table mostly wait on each other), each
 * page's Redis delivery overlapping the next pages' inserts, so Postgres and Redis both stay
 * busy. Checkpoints are written strictly in page order, only for pages whose insert and delivery
 * have both finished.
 * A resumed job starts from its checkpoint; rows already written conflict on the dedupe key and
 * are neither written nor delivered twice (pages past the checkpoint may have been written).
 */
import type { BatchCheckpoint } from "./queues.ts";
import { deliver, type DeliveryDeps } from "./deliver.ts";
import { forgetRecentNotifications } from "./recent.ts";
import type { UnreadWrite } from "./unread.ts";
import { existingBatchRows, insertBatch } from "./store.ts";
import type { NotificationType, NotificationView } from "./types.ts";

export interface RecipientPage {
  ids: string[];
  /** keyset cursor after this page (null when the page is empty) */
  cursor: string | null;
}

export type RecipientSource = (after: string | null, limit: number) => Promise<RecipientPage>;

export interface BatchTemplate {
  type: NotificationType;
  actorId: string | null;
  subjectId: string | null;
  dedupeKey: string;
  occurredAt: Date;
  /** the rendered notification without its id (the same for every recipient) */
  view: Omit<NotificationView, "id" | "seq">;
}

export interface BatchStats {
  rows: number;
  live: number;
  scanned: number;
  ms: number;
}

export interface RunOptions {
  source: RecipientSource;
  template: BatchTemplate;
  batchSize: number;
  /** pages in flight at once (one inserting, the others delivering); default 3, measured best of 2–4 */
  parallel?: number;
  from: BatchCheckpoint;
  /** persist progress; called in page order after the page is written and delivered */
  checkpoint: (cp: BatchCheckpoint) => Promise<void>;
  /** true when the process is stopping: finish the pages in flight, then return */
  stopping?: () => boolean;
  onBatch?: (stats: BatchStats) => void;
}

export type RunOutcome = { done: boolean } & BatchCheckpoint & { live: number };

/**
 * Rows of this page that an earlier attempt wrote (its worker died between the write and the
 * delivery, or after): whether they were counted and told cannot be known, so their members'
 * cached badges are forgotten (the next read counts in Postgres) and they are delivered again —
 * clients drop a notification id they already have. Muted recipients simply have no row.
 */
async function rowsOfAnEarlierAttempt(deps: DeliveryDeps, page: RecipientPage, template: BatchTemplate, written: readonly { userId: string }[]) {
  const got = new Set(written.map((r) => r.userId));
  const earlier = await existingBatchRows(deps.sql, { userIds: page.ids.filter((id) => !got.has(id)), dedupeKey: template.dedupeKey, occurredAt: template.occurredAt });
  if (earlier.length) await deps.unread.forget(earlier.map((r) => r.userId));
  return earlier;
}

export async function runBatches(deps: DeliveryDeps, opts: RunOptions): Promise<RunOutcome> {
  const { source, template, batchSize } = opts;
  const parallel = Math.max(1, opts.parallel ?? 3);
  let cp: BatchCheckpoint = { ...opts.from };
  let live = 0;
  // rows: written by this call; recipients: members of the page who have the row, whichever
  // attempt wrote it (a page past the checkpoint may have been written by a worker that died)
  const inflight: { page: RecipientPage; done: Promise<{ rows: number; recipients: number; live: number; ms: number }> }[] = [];

  // Inserts run one after another (two concurrent bulk inserts into one table mostly wait on each
  // other), while earlier pages are delivered through Redis: Postgres and Redis both stay busy.
  let insertsDone: Promise<unknown> = Promise.resolve();
  const writePage = async (page: RecipientPage) => {
    let started = 0;
    let fence: UnreadWrite | null = null;
    const inserting = insertsDone.then(async () => {
      started = performance.now();
      // before the rows are written: a badge rebuilt meanwhile must not be cached (unread.ts)
      fence = await deps.unread.fence(page.ids);
      return insertBatch(deps.sql, {
        userIds: page.ids,
        type: template.type,
        actorId: template.actorId,
        subjectId: template.subjectId,
        dedupeKey: template.dedupeKey,
        occurredAt: template.occurredAt,
      });
    });
    insertsDone = inserting.catch(() => {});
    try {
      const rows = await inserting;
      // The whole page, before any live event: a recipient without a new row may have one from an
      // earlier attempt of this page that failed before it got here.
      await forgetRecentNotifications(deps, page.ids);
      const earlier = rows.length < page.ids.length ? await rowsOfAnEarlierAttempt(deps, page, template, rows) : [];
      const all = [...rows.map((r) => ({ ...r, unreadDelta: 1 })), ...earlier.map((r) => ({ ...r, unreadDelta: 0 }))];
      const n = await deliver(deps, all, (i) => ({ ...template.view, id: all[i]!.id, seq: all[i]!.seq }), fence!);
      return { rows: rows.length, recipients: all.length, live: n, ms: performance.now() - started };
    } finally {
      await (fence as UnreadWrite | null)?.release();
    }
  };

  /** Waits for the oldest page in flight and checkpoints after it. */
  const settleOldest = async () => {
    const { page, done } = inflight.shift()!;
    const r = await done;
    live += r.live;
    cp = { cursor: page.cursor, written: cp.written + r.recipients, scanned: cp.scanned + page.ids.length };
    await opts.checkpoint(cp);
    opts.onBatch?.({ rows: r.rows, live: r.live, scanned: page.ids.length, ms: r.ms });
  };
  const settleAll = async () => {
    // every page in flight is awaited even if one fails, so none is left running unobserved
    const results = await Promise.allSettled(inflight.map((f) => f.done));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    while (inflight.length) await settleOldest();
  };

  let page = await source(cp.cursor, batchSize);
  try {
    while (page.ids.length > 0) {
      const last = page.ids.length < batchSize;
      const next = last ? Promise.resolve<RecipientPage>({ ids: [], cursor: null }) : source(page.cursor, batchSize);
      next.catch(() => {}); // awaited below; observed now so a failure while settling cannot go unhandled
      const done = writePage(page);
      done.catch(() => {}); // observed in settleOldest / settleAll
      inflight.push({ page, done });
      if (inflight.length >= parallel) await settleOldest();
      page = await next;
      if (opts.stopping?.()) {
        await settleAll();
        return { done: page.ids.length === 0, ...cp, live };
      }
    }
    await settleAll();
  } catch (err) {
    await Promise.allSettled(inflight.map((f) => f.done));
    throw err;
  }
  return { done: true, ...cp, live };
}
