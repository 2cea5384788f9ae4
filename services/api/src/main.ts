import { loadConfigOrExit } from "@xplicit/shared/config";
import { migrate, whenPostgresIsReachable } from "@xplicit/shared/db";
import { onShutdown } from "@xplicit/shared/lifecycle";
import { configureLogging, createLogger } from "@xplicit/shared/log";
import { setDefaultLabels } from "@xplicit/shared/metrics";
import { createApp } from "./app.ts";
import { createApiDeps } from "./deps.ts";

const config = loadConfigOrExit();
configureLogging({ service: "api", level: config.logLevel, levels: { ...config.logLevels } });
setDefaultLabels({ service: "api" });
const log = createLogger("main");

const deps = createApiDeps(config);
// (the port opens once the schema is there: Postgres away at start is waited out, not a crash)
if (config.migrateOnStart) await whenPostgresIsReachable("apply the migrations", () => migrate(deps.sql), log);

let draining = false;
const app = createApp(deps, { notReadyReason: () => (draining ? "draining" : null) });

const server = Bun.serve({ hostname: config.host, port: config.apiPort, fetch: app.fetch, maxRequestBodySize: 16 * 1024 * 1024, idleTimeout: 60 });
log.info("api listening", { url: `http://${config.host}:${server.port}` });

onShutdown(log, config.shutdownTimeoutMs, [
  () => (draining = true),
  () => server.stop(false),
  () => deps.close(),
]);
