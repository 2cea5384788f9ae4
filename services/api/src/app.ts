/**
 * The api's Hono application: every module mounted under /api, operator endpoints at the root,
 * and the static pages when the api runs without nginx in front.
 */
import { Hono } from "hono";
import { checkPostgresWritable } from "@xplicit/shared/db";
import { bodyLimit } from "hono/body-limit";
import { bodyTooLarge, handleError, handleNotFound } from "@xplicit/shared/errors";
import { requestDeadline, requestMetrics, requireSameOrigin, securityHeaders } from "@xplicit/shared/http";
import { opsRoutes } from "@xplicit/shared/ops";
import { checkRedisWritable } from "@xplicit/shared/redis";
import type { ApiDeps, ApiEnv } from "./deps.ts";
import { accountsRoutes } from "./modules/accounts/routes.ts";
import { profilesRoutes, type ProfileHooks } from "./modules/profiles/routes.ts";
import { socialRoutes, type SocialHooks } from "./modules/social/routes.ts";
import { messagesRoutes } from "./modules/messages/routes.ts";
import { eventsRoutes, MAX_WAIT_SECONDS } from "./modules/events/routes.ts";
import { createNotificationReach, createNotifier, createPendingMessages, notifyOfflineRecipients, type Notifier } from "@xplicit/shared/modules/notifications";
import { notificationsRoutes } from "./modules/notifications/routes.ts";
import { adminRoutes } from "./modules/admin/routes.ts";
import { pageNotFound, pagesRoutes } from "./modules/pages/routes.ts";
import { operationsRoutes } from "./modules/operations/routes.ts";
import { notifyOnFollow, notifyOnProfileView, notifyOnReaction } from "./modules/notifications/hooks.ts";

export interface AppOptions {
  social?: SocialHooks;
  profiles?: ProfileHooks;
  /** enqueues notification jobs; by default one BullMQ producer on `deps.redis` */
  notifier?: Notifier;
  notReadyReason?: () => string | null;
}

/**
 * How long a request may take before it is answered 503: API_REQUEST_TIMEOUT_MS, more for the
 * long-poll (it waits up to MAX_WAIT_SECONDS by design) and for deleting an account (its message
 * deletes run without the statement timeout: a member of big groups takes long, and a 503 there
 * would tell them to try again while the first attempt goes on).
 */
function deadlineOf(method: string, path: string, ms: number): number {
  if (ms <= 0) return 0;
  if (path === "/api/events") return ms + MAX_WAIT_SECONDS * 1000;
  if (method === "DELETE" && path === "/api/me") return Math.max(ms, ACCOUNT_DELETION_DEADLINE_MS);
  return ms;
}
const ACCOUNT_DELETION_DEADLINE_MS = 10 * 60_000;

export function createApp(deps: ApiDeps, opts: AppOptions = {}) {
  const app = new Hono<ApiEnv>();
  app.onError(handleError);
  const notFoundPage = pageNotFound(deps.config.publicDir);
  app.notFound((c) => notFoundPage(c) ?? handleNotFound(c));
  app.use(requestMetrics());
  app.use(securityHeaders());

  app.route(
    "/",
    opsRoutes({
      service: "api",
      version: deps.config.version,
      checks: {
        postgres: async () => void (await deps.sql`select 1`),
        // the message writer has a connection of its own: ready means messages can be stored
        postgres_writer: () => checkPostgresWritable(deps.messaging.writeSql ?? deps.sql),
        redis: () => checkRedisWritable(deps.redis, deps.keys, "api"),
      },
      notReadyReason: opts.notReadyReason,
      trustedProxies: deps.config.trustedProxies,
    }),
  );

  app.route(
    "/",
    operationsRoutes({
      targets: deps.config.statusTargets,
      self: `http://127.0.0.1:${deps.config.apiPort}`,
      trustedProxies: deps.config.trustedProxies,
    }),
  );

  const api = new Hono<ApiEnv>();
  api.use(
    bodyLimit({
      maxSize: 64 * 1024,
      onError: () => {
        throw bodyTooLarge();
      },
    }),
  );
  api.use(requireSameOrigin(deps.config.publicOrigins));
  // Every answer under /api is one member's data: no browser or proxy cache may keep it.
  api.use(async (c, next) => {
    await next();
    if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
  });
  api.use(requestDeadline((c) => deadlineOf(c.req.method, c.req.path, deps.config.apiRequestTimeoutMs)));
  api.route("/", accountsRoutes(deps));
  const notifier = opts.notifier ?? createNotifier({ redis: deps.redis, prefix: deps.keys.bullPrefix() });
  const reach = createNotificationReach(deps.redis, deps.keys);
  deps.messaging.onOfflineRecipients ??= notifyOfflineRecipients({ notifier, reach, pending: createPendingMessages(deps.redis, deps.keys) });
  api.route("/", profilesRoutes(deps, opts.profiles ?? { onView: notifyOnProfileView(notifier, reach), onReact: notifyOnReaction(notifier, reach) }));
  api.route("/", socialRoutes(deps, opts.social ?? { onFollow: notifyOnFollow(notifier, reach) }));
  api.route("/", messagesRoutes(deps));
  api.route("/", eventsRoutes(deps));
  api.route("/", notificationsRoutes(deps));
  api.route("/", adminRoutes(deps, notifier));
  app.route("/api", api);
  // The web front end (static pages), for when the api runs without nginx in front.
  app.route("/", pagesRoutes(deps.config.publicDir));

  return app;
}
