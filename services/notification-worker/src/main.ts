/**
 * The notification worker: BullMQ consumers for notify / fanout / broadcast / partitions, and the
 * operator endpoints on WORKER_PORT. SIGTERM: not-ready, let running batches finish (bulk jobs go
 * back to the queue at their checkpoint), close pools, exit.
 */
import { Hono } from "hono";
import { loadConfigOrExit } from "@xplicit/shared/config";
import { handleError, handleNotFound } from "@xplicit/shared/errors";
import { onShutdown } from "@xplicit/shared/lifecycle";
import { configureLogging, createLogger } from "@xplicit/shared/log";
import { setDefaultLabels } from "@xplicit/shared/metrics";
import { opsRoutes } from "@xplicit/shared/ops";
import { checkRedisWritable } from "@xplicit/shared/redis";
import { createWorkerDeps } from "./deps.ts";
import { startWorkers } from "./workers.ts";

const config = loadConfigOrExit();
configureLogging({ service: "notification-worker", level: config.logLevel, levels: { ...config.logLevels } });
setDefaultLabels({ service: "notification-worker" });
const log = createLogger("main");

const deps = createWorkerDeps(config);
const running = await startWorkers(deps);
let draining = false;

const app = new Hono();
app.onError(handleError);
app.notFound(handleNotFound);
app.route(
  "/",
  opsRoutes({
    service: "notification-worker",
    version: config.version,
    checks: {
      postgres: async () => void (await deps.sql`select 1`),
      redis: () => checkRedisWritable(deps.redis, deps.keys, "worker"),
    },
    status: () => running.status(),
    notReadyReason: () => (draining ? "draining" : null),
    trustedProxies: config.trustedProxies,
  }),
);

const server = Bun.serve({ hostname: config.host, port: config.workerPort, fetch: app.fetch });
log.info("notification worker running", { url: `http://${config.host}:${server.port}` });

onShutdown(log, config.shutdownTimeoutMs, [
  () => (draining = true),
  () => running.stop(),
  () => server.stop(true),
  () => deps.close(),
]);
