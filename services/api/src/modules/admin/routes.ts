/** Operator broadcasts: enqueue one, read its progress. */
import { Hono } from "hono";
import { badRequest, notFound } from "@xplicit/shared/errors";
import { isStorableText, readJsonObject } from "@xplicit/shared/http";
import { createLogger } from "@xplicit/shared/log";
import { FAILED_JOB_KEPT_SECONDS, type BatchProgress, type Notifier } from "@xplicit/shared/modules/notifications";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";
import { requireAdmin } from "./require-admin.ts";

const log = createLogger("admin");

function text(body: Record<string, unknown>, field: string, max: number): string {
  const v = body[field];
  if (typeof v !== "string" || v.trim() === "" || v.length > max) throw badRequest("invalid", `${field} must be 1 to ${max} characters`);
  if (!isStorableText(v)) throw badRequest("invalid", `${field} must not contain NUL or broken Unicode`);
  return v.trim();
}

function joinedSince(body: Record<string, unknown>): Date | null {
  const v = body.joinedSince;
  if (v === undefined || v === null) return null;
  const d = typeof v === "string" ? new Date(v) : new Date(NaN);
  // Postgres' timestamptz is narrower than a JS Date: out of range would be a 500.
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1970 || d.getUTCFullYear() > 9999) {
    throw badRequest("invalid", "joinedSince must be an ISO date between 1970 and 9999");
  }
  return d;
}

/** Whether the worker's recovery sweep still looks for this broadcast (notification-worker jobs/recovery.ts). */
function isRecoverable(createdAt: Date): boolean {
  return Date.now() - createdAt.getTime() < (FAILED_JOB_KEPT_SECONDS - 86_400) * 1000;
}

export function adminRoutes(deps: ApiDeps, notifier: Notifier) {
  const app = new Hono<ApiEnv>();
  app.use("/admin/*", requireMember(deps), requireAdmin(deps));

  app.post("/admin/broadcasts", async (c) => {
    const body = await readJsonObject(c);
    const title = text(body, "title", 120);
    const message = text(body, "body", 2000);
    const since = joinedSince(body);
    const me = c.get("member").userId;
    const [row] = await deps.sql<{ id: string; created_at: Date }[]>`
      insert into broadcasts (title, body, segment, joined_since, created_by)
      values (${title}, ${message}, ${since ? "joined_since" : "all"}, ${since}, ${me})
      returning id, created_at`;
    let jobId: string;
    try {
      jobId = await notifier.broadcast({ broadcastId: row!.id, joinedSince: since?.toISOString() ?? null, occurredAt: row!.created_at.getTime() });
    } catch (err) {
      // not enqueued: the operator is told it failed, so no worker may send it later (recovery.ts)
      await deps.sql`delete from broadcasts where id = ${row!.id} and finished_at is null and recipients_written = 0`.catch(() => {});
      throw err;
    }
    log.audit("broadcast enqueued", { userId: me, broadcastId: row!.id, jobId });
    return c.json({ id: row!.id, jobId }, 202);
  });

  app.get("/admin/broadcasts/:id", async (c) => {
    const id = c.req.param("id");
    if (!/^\d{1,18}$/.test(id)) throw notFound("no such broadcast");
    const [row] = await deps.sql<{ id: string; title: string; created_at: Date; recipients_written: string; recipients_scanned: string; checkpoint_cursor: string | null; finished_at: Date | null }[]>`
      select id, title, created_at, recipients_written, recipients_scanned, checkpoint_cursor, finished_at from broadcasts where id = ${id}`;
    if (!row) throw notFound("no such broadcast");
    const job = await notifier.broadcastJob(id);
    // without its job (Redis lost it: a worker enqueues it again within a minute) the row's checkpoint says how far it got
    const kept = { cursor: row.checkpoint_cursor, written: Number(row.recipients_written), scanned: Number(row.recipients_scanned), total: null };
    const progress = (job && typeof job.progress === "object" ? job.progress : row.finished_at ? null : kept) as BatchProgress | null;
    // finished in Postgres is finished, whatever BullMQ says of a job run again after a lost lock
    const state = row.finished_at ? "completed" : job ? await job.getState() : isRecoverable(row.created_at) ? "requeueing" : "lost";
    return c.json({
      id: row.id,
      title: row.title,
      createdAt: row.created_at.toISOString(),
      jobId: job?.id ?? null,
      state,
      progress,
      recipientsWritten: Number(row.recipients_written),
      finishedAt: row.finished_at?.toISOString() ?? null,
      // an earlier attempt's failure is history once the job completed
      failedReason: state === "completed" ? null : (job?.failedReason ?? null),
    });
  });

  return app;
}
