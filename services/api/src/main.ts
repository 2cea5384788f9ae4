import { loadConfigOrExit } from "@xplicit/shared/config";
import { createDb, migrate } from "@xplicit/shared/db";
import { onShutdown } from "@xplicit/shared/lifecycle";
import { configureLogging, createLogger } from "@xplicit/shared/log";
import { setDefaultLabels } from "@xplicit/shared/metrics";
import { createRedis, redisKeys } from "@xplicit/shared/redis";
import { createSessionStore } from "@xplicit/shared/sessions";
import { createApp } from "./app.ts";

const config = loadConfigOrExit();
configureLogging({ service: "api", level: config.logLevel, levels: { ...config.logLevels } });
setDefaultLabels({ service: "api" });
const log = createLogger("main");

const sql = createDb(config.databaseUrl, { max: config.databasePoolSize, appName: "api" });
const redis = createRedis(config.redisUrl, "api");
const keys = redisKeys(config.redisPrefix);
if (process.env.MIGRATE_ON_START !== "false") await migrate(sql);

const sessions = createSessionStore({ sql, redis, keys, ...config.session });
let draining = false;
const app = createApp({ config, sql, redis, keys, sessions }, { notReadyReason: () => (draining ? "draining" : null) });

const server = Bun.serve({ hostname: config.host, port: config.apiPort, fetch: app.fetch, maxRequestBodySize: 16 * 1024 * 1024 });
log.info("api listening", { url: `http://${config.host}:${server.port}` });

onShutdown(log, config.shutdownTimeoutMs, [
  () => (draining = true),
  () => server.stop(false),
  () => sql.end({ timeout: 5 }),
  () => redis.quit(),
]);
