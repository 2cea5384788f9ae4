/**
 * A member's notifications: the list (keyset pages), the unread badge (Redis), marking read
 * (pushed to the member's other clients through the event stream), and per-type mutes.
 */
import { Hono } from "hono";
import { readJsonObject, parsePage } from "@xplicit/shared/http";
import {
  NOTIFICATION_TYPES, RECENT_PAGE_MAX, createRecentNotifications, createUnreadCounter, listForMember, markRead, mutedTypes, renderAll, setMutedTypes,
} from "@xplicit/shared/modules/notifications";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";
import { parseMuted, parseReadTarget, parseTypeFilter } from "./validation.ts";

export function notificationsRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);
  const unread = createUnreadCounter({ sql: deps.sql, redis: deps.redis, keys: deps.keys });
  const recent = createRecentNotifications({ sql: deps.sql, redis: deps.redis, keys: deps.keys });

  app.get("/notifications", auth, async (c) => {
    const me = c.get("member").userId;
    const page = parsePage(c.req.query("cursor"), c.req.query("limit"), 100, 20);
    const type = parseTypeFilter(c.req.query("type"));
    if (!page.cursor && !type && page.limit <= RECENT_PAGE_MAX) {
      // the first page, what every client asks for when it opens the list: cached (recent.ts)
      const { page: newest, unread: cached } = await recent.read(me, page.limit);
      const [items, count] = await Promise.all([renderAll(deps.sql, newest.rows, newest.broadcasts), cached ?? unread.getOne(me)]);
      return c.json({ items, nextCursor: newest.more ? newest.rows.at(-1)!.id : null, unread: count });
    }
    const rows = await listForMember(deps.sql, me, { beforeId: page.cursor, limit: page.limit + 1, type });
    const visible = rows.slice(0, page.limit);
    const [items, count] = await Promise.all([renderAll(deps.sql, visible), unread.getOne(me)]);
    return c.json({ items, nextCursor: rows.length > page.limit ? visible.at(-1)!.id : null, unread: count });
  });

  app.get("/notifications/unread-count", auth, async (c) => {
    return c.json({ unread: await unread.getOne(c.get("member").userId) });
  });

  app.post("/notifications/read", auth, async (c) => {
    const me = c.get("member").userId;
    const target = parseReadTarget(await readJsonObject(c));
    const changed = await markRead(deps.sql, me, target);
    // even when nothing changed: a retry after a first attempt that committed and then failed
    await recent.forget([me]);
    let count: number;
    if (changed > 0) {
      const [after] = await unread.adjust([{ userId: me, delta: -changed }]);
      count = after ?? (await unread.getOne(me));
      await deps.events.append({ userId: me, kind: "notifications_read", data: { ...target, unread: count } });
    } else {
      count = await unread.getOne(me);
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
