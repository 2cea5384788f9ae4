/**
 * A member's notifications: the list (keyset pages), the unread badge (Redis), marking read
 * (pushed to the member's other clients through the event stream), and per-type mutes.
 */
import { Hono } from "hono";
import { readJsonObject, parsePage, type Page } from "@xplicit/shared/http";
import {
  NOTIFICATION_TYPES, RECENT_PAGE_MAX, type NotificationType, createRecentNotifications, createUnreadCounter, listForMember, markRead, mutedTypes, renderAll, setMutedTypes,
} from "@xplicit/shared/modules/notifications";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";
import { parseMuted, parseReadTarget, parseTypeFilter, type ReadTarget } from "./validation.ts";

export function notificationsRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);
  const unread = createUnreadCounter({ sql: deps.sql, redis: deps.redis, keys: deps.keys });
  const recent = createRecentNotifications({ sql: deps.sql, redis: deps.redis, keys: deps.keys });

  async function fromPostgres(me: string, page: Page, type: NotificationType | null) {
    const rows = await listForMember(deps.sql, me, { beforeSeq: page.cursor, limit: page.limit + 1, type });
    return { rows: rows.slice(0, page.limit), more: rows.length > page.limit, broadcasts: undefined };
  }

  app.get("/notifications", auth, async (c) => {
    const me = c.get("member").userId;
    const page = parsePage(c.req.query("cursor"), c.req.query("limit"), 100, 20);
    const type = parseTypeFilter(c.req.query("type"));
    // The first page, what every client asks for when it opens the list, is cached (recent.ts).
    const cached = !page.cursor && !type && page.limit <= RECENT_PAGE_MAX ? await recent.read(me, page.limit) : null;
    const { rows, more, broadcasts } = cached?.page ?? (await fromPostgres(me, page, type));
    const [items, count] = await Promise.all([renderAll(deps.sql, rows, broadcasts), cached?.unread ?? unread.getOne(me)]);
    return c.json({ items, nextCursor: more ? rows.at(-1)!.seq : null, unread: count });
  });

  app.get("/notifications/unread-count", auth, async (c) => {
    return c.json({ unread: await unread.getOne(c.get("member").userId) });
  });

  /**
   * Nothing changed, yet an earlier attempt may have committed these rows and failed before it
   * moved the badge or told the member's clients: the badge is counted again, and when it was off
   * the clients hear the read they missed.
   */
  async function recountAfterNoChange(me: string, target: ReadTarget): Promise<number> {
    const [before] = await unread.peek([me]);
    await unread.invalidate(me);
    const [count = 0] = await unread.rebuild([me]);
    if (before !== count) await deps.events.append({ userId: me, kind: "notifications_read", data: { ...target, unread: count } });
    return count;
  }

  app.post("/notifications/read", auth, async (c) => {
    const me = c.get("member").userId;
    const target = parseReadTarget(await readJsonObject(c));
    // before the rows change: a badge rebuilt meanwhile must not be cached (unread.ts)
    const fence = await unread.fence([me]);
    let changed: number;
    let after: number | null = null;
    try {
      changed = await markRead(deps.sql, me, target);
      // even when nothing changed: a retry after a first attempt that committed and then failed
      await recent.forget([me]);
      if (changed > 0) after = (await fence.settle([{ userId: me, delta: -changed }]))[0] ?? null;
    } finally {
      await fence.release();
    }
    let count: number;
    if (changed > 0) {
      count = after ?? (await unread.getOne(me));
      await deps.events.append({ userId: me, kind: "notifications_read", data: { ...target, unread: count } });
    } else {
      count = await recountAfterNoChange(me, target);
    }
    return c.json({ updated: changed, unread: count });
  });

  app.get("/me/notification-settings", auth, async (c) => {
    return c.json({ types: NOTIFICATION_TYPES, muted: await mutedTypes(deps.sql, c.get("member").userId) });
  });

  app.put("/me/notification-settings", auth, async (c) => {
    const me = c.get("member").userId;
    await setMutedTypes(deps.sql, me, parseMuted(await readJsonObject(c)));
    return c.json({ types: NOTIFICATION_TYPES, muted: await mutedTypes(deps.sql, me) });
  });

  return app;
}
