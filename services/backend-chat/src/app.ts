import { Hono } from "hono";
import { checkPostgresWritable } from "@xplicit/shared/db";
import { handleError, handleNotFound } from "@xplicit/shared/errors";
import { requestMetrics } from "@xplicit/shared/http";
import { opsRoutes } from "@xplicit/shared/ops";
import { checkRedisWritable } from "@xplicit/shared/redis";
import type { ChatEnv } from "./deps.ts";
import { checkUpgrade, rates, upgradeToConnection, type Hub } from "./modules/connections/index.ts";
import type { createPubSubProbe } from "./modules/health/pubsub-probe.ts";

export function createChatApp(hub: Hub, probe: ReturnType<typeof createPubSubProbe>, isDraining: () => boolean) {
  const gate = { isDraining, isCutOff: probe.isCutOff };
  const { config, sql, redis } = hub.deps;
  const app = new Hono<ChatEnv>();
  app.onError(handleError);
  app.notFound(handleNotFound);
  app.use(requestMetrics());
  app.route(
    "/",
    opsRoutes({
      service: "backend-chat",
      version: config.version,
      checks: {
        postgres: async () => void (await sql`select 1`),
        // the message writer has a connection of its own: ready means messages can be stored
        postgres_writer: () => checkPostgresWritable(hub.deps.messaging.writeSql ?? sql),
        redis: () => checkRedisWritable(redis, hub.deps.keys, config.chat.replicaName),
        pubsub: probe.check,
      },
      notReadyReason: () => (isDraining() ? "draining" : hub.isFull() ? "full" : null),
      trustedProxies: config.trustedProxies,
      status: () => ({
        replica: config.chat.replicaName,
        draining: isDraining(),
        ...hub.stats(),
        framesInPerSecond: rates.inPerSecond,
        framesOutPerSecond: rates.outPerSecond,
        pubsub: probe.status(),
      }),
    }),
  );
  app.get("/ws", checkUpgrade(hub, gate), upgradeToConnection(hub));
  return app;
}
