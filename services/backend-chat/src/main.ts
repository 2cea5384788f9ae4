import { exitOnConfigError, loadConfigOrExit } from "@xplicit/shared/config";
import { createDb, createMessageWriteDb } from "@xplicit/shared/db";
import { onShutdown } from "@xplicit/shared/lifecycle";
import { configureLogging, createLogger } from "@xplicit/shared/log";
import { setDefaultLabels } from "@xplicit/shared/metrics";
import { createEventStream } from "@xplicit/shared/modules/events";
import { createUnreadCounter } from "@xplicit/shared/modules/notifications";
import { createPresence, PRESENCE_HEARTBEAT_MS } from "@xplicit/shared/modules/presence";
import { createRedisConnections, redisKeys } from "@xplicit/shared/redis";
import { createSessionStore } from "@xplicit/shared/sessions";
import { createChatApp } from "./app.ts";
import type { ChatDeps } from "./deps.ts";
import { Hub, openFileLimit, socketCapFor, websocketHandler } from "./modules/connections/index.ts";
import { createDrain } from "./modules/drain/index.ts";
import { createPubSubProbe } from "./modules/health/pubsub-probe.ts";
import { followMembershipChanges } from "@xplicit/shared/modules/messages";
import { createMessaging } from "./messaging.ts";

const config = loadConfigOrExit();
const replica = config.chat.replicaName;
configureLogging({ service: `backend-chat:${replica}`, level: config.logLevel, levels: { ...config.logLevels } });
setDefaultLabels({ service: "backend-chat", replica });
const log = createLogger("main");

const sql = createDb(config.databaseUrl, { max: config.databasePoolSize, appName: `chat-${replica}`, statementTimeoutMs: config.databaseStatementTimeoutMs });
const writeSql = createMessageWriteDb(config.databaseUrl, `chat-${replica}`, config.databaseStatementTimeoutMs);
const redisConns = createRedisConnections(config.redisUrl, `chat-${replica}`, { autoPipelining: config.redisAutoPipelining });
const redis = redisConns.command;
const keys = redisKeys(config.redisPrefix);
const events = createEventStream({ redis, keys, maxEvents: config.chat.replayMaxEvents, maxAgeSeconds: config.chat.replayMaxAgeSeconds, maxBytes: config.chat.replayMaxBytes });
const presence = createPresence({ redis, keys });
const deps: ChatDeps = {
  config,
  sql,
  redis,
  subscriber: redisConns.subscriber(),
  keys,
  sessions: createSessionStore({ sql, redis, keys, ...config.session }),
  events,
  presence,
  unread: createUnreadCounter({ sql, redis, keys }),
  messaging: createMessaging({ config, sql, writeSql, redis, keys, events }),
};

const maxSockets = exitOnConfigError(() => socketCapFor(config.chat.maxSockets, openFileLimit()));
const hub = new Hub(deps, maxSockets);
await hub.start();
await followMembershipChanges(deps.messaging, deps.subscriber);
const drain = createDrain(hub);
const probe = createPubSubProbe(deps, {
  onStale: () => hub.repairSubscriptions(),
  lostAfterMs: config.chat.redisLostAfterSeconds * 1000,
  onLost: () => drain.shed(() => probe.isCutOff()),
});
await probe.start();
const app = createChatApp(hub, probe, drain.isDraining);

const server = Bun.serve({
  hostname: config.host,
  port: config.chatPort,
  fetch: app.fetch,
  websocket: websocketHandler({
    maxPayloadBytes: Math.max(1024 * 1024, config.chat.maxFrameBytes * 4),
    idleTimeoutSeconds: config.chat.pingIntervalSeconds * 2 + 10,
    backpressureLimit: config.chat.maxBufferedBytes * 4,
  }),
});
log.info("chat replica listening", { replica, url: `http://${config.host}:${server.port}`, maxSockets });

const heartbeat = setInterval(() => void hub.heartbeat().catch(() => {}), PRESENCE_HEARTBEAT_MS);
const revalidate = setInterval(() => void hub.revalidateSessions().catch(() => {}), 30_000);

onShutdown(log, config.shutdownTimeoutMs + 20_000, [
  () => clearInterval(heartbeat),
  () => clearInterval(revalidate),
  () => drain.drain(),
  () => server.stop(true),
  () => probe.stop(),
  () => redisConns.close(),
  () => sql.end({ timeout: 5 }),
  () => writeSql.end({ timeout: 5 }),
]);
