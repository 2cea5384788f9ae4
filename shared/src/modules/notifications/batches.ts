/**
 * The bulk write loop behind `fanout` and `broadcast` jobs: page through recipients by keyset,
 * write each page with one statement, deliver it, checkpoint the cursor. The next page is read
 * while the current one is written, and a page's Redis delivery overlaps the next page's insert.
 * A resumed job starts from its checkpoint; rows already written conflict on the dedupe key and
 * are neither written nor delivered twice.
 */
import type { BatchCheckpoint } from "./queues.ts";
import { deliver, type DeliveryDeps } from "./deliver.ts";
import { insertBatch } from "./store.ts";
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
  view: Omit<NotificationView, "id">;
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
  from: BatchCheckpoint;
  /** persist progress; called in page order after the page is written and delivered */
  checkpoint: (cp: BatchCheckpoint) => Promise<void>;
  /** true when the process is stopping: finish the current page, then return */
  stopping?: () => boolean;
  onBatch?: (stats: BatchStats) => void;
}

export type RunOutcome = { done: boolean } & BatchCheckpoint & { live: number };

export async function runBatches(deps: DeliveryDeps, opts: RunOptions): Promise<RunOutcome> {
  const { source, template, batchSize } = opts;
  let cp: BatchCheckpoint = { ...opts.from };
  let live = 0;
  let pending: Promise<void> = Promise.resolve();
  let page = await source(cp.cursor, batchSize);

  while (page.ids.length > 0) {
    const started = performance.now();
    const scanned = page.ids.length;
    const last = page.ids.length < batchSize;
    const next = last ? Promise.resolve<RecipientPage>({ ids: [], cursor: null }) : source(page.cursor, batchSize);
    const rows = await insertBatch(deps.sql, {
      userIds: page.ids,
      type: template.type,
      actorId: template.actorId,
      subjectId: template.subjectId,
      dedupeKey: template.dedupeKey,
      occurredAt: template.occurredAt,
    });
    await pending;
    const here: BatchCheckpoint = { cursor: page.cursor, written: cp.written + rows.length, scanned: cp.scanned + scanned };
    pending = deliver(deps, rows.map((r) => ({ userId: r.userId, unreadDelta: 1 })), (i) => ({ ...template.view, id: rows[i]!.id })).then(
      async (n) => {
        live += n;
        await opts.checkpoint(here);
        opts.onBatch?.({ rows: rows.length, live: n, scanned, ms: performance.now() - started });
      },
    );
    cp = here;
    page = await next;
    if (opts.stopping?.()) {
      await pending;
      return { done: page.ids.length === 0, ...cp, live };
    }
  }
  await pending;
  return { done: true, ...cp, live };
}
