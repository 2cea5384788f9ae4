/**
 * Operator endpoints every service serves: liveness, readiness, a JSON status page and
 * Prometheus metrics. Readiness runs real checks (Postgres and Redis answer, plus whatever the
 * service adds), so a green /readyz means the process can do its job, not merely that it runs.
 */
import { Hono } from "hono";
import { loadavg } from "node:os";
import type { Context } from "hono";
import { handleError } from "../errors/index.ts";
import { clientCertificate, clientCertificateRequired } from "../http/client-ip.ts";
import { registry } from "../metrics/index.ts";

export type ReadinessCheck = () => Promise<void>;

export interface OpsOptions {
  service: string;
  version: string;
  checks: Record<string, ReadinessCheck>;
  status?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** When true the service reports not-ready (draining on SIGTERM). */
  notReadyReason?: () => string | null;
  /**
   * Peers whose X-Client-Verify is believed (TRUSTED_PROXIES). A request the edge relays from a
   * client (it says whom, in X-Real-IP) reaches /status and /metrics only with a verified operator
   * certificate, whatever path spelling led nginx to forward it; one asked directly on the
   * service's own port (a scraper, the aggregated status) needs none.
   */
  trustedProxies?: readonly string[];
}

const CHECK_TIMEOUT_MS = 1500;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))]);
}

/** CPU % of one core used by this process over the last sampling interval. */
function cpuSampler(intervalMs = 5000) {
  let last = process.cpuUsage();
  let lastAt = performance.now();
  let percent = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const usage = process.cpuUsage(last);
    percent = ((usage.user + usage.system) / 1000 / (now - lastAt)) * 100;
    last = process.cpuUsage();
    lastAt = now;
  }, intervalMs);
  timer.unref?.();
  return () => Math.round(percent * 10) / 10;
}

export function opsRoutes(opts: OpsOptions): Hono {
  const app = new Hono();
  app.onError(handleError);
  const startedAt = Date.now();
  const cpuPercent = cpuSampler();

  const relayedWithoutCertificate = (c: Context) =>
    !!opts.trustedProxies && c.req.header("x-real-ip") !== undefined && !clientCertificate(c, opts.trustedProxies).verified;

  app.get("/healthz", (c) => c.json({ ok: true, service: opts.service }));

  app.get("/readyz", async (c) => {
    const reason = opts.notReadyReason?.();
    const results: Record<string, string> = {};
    let ok = !reason;
    await Promise.all(
      Object.entries(opts.checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), CHECK_TIMEOUT_MS);
          results[name] = "ok";
        } catch (err) {
          ok = false;
          results[name] = (err as Error).message || "failed";
        }
      }),
    );
    // Relayed from outside without the operator's certificate: the verdict only — a failing
    // check's error names internal addresses ("connect ECONNREFUSED 10.0.3.7:5432")
    if (relayedWithoutCertificate(c)) return c.json({ ok, service: opts.service }, ok ? 200 : 503);
    return c.json({ ok, service: opts.service, ...(reason ? { reason } : {}), checks: results }, ok ? 200 : 503);
  });

  app.get("/status", async (c) => {
    if (relayedWithoutCertificate(c)) throw clientCertificateRequired();
    const mem = process.memoryUsage();
    return c.json({
      service: opts.service,
      version: opts.version,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      memory: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal },
      cpuPercent: cpuPercent(),
      loadAverage: loadavg(),
      ...(opts.status ? await opts.status() : {}),
    });
  });

  app.get("/metrics", async (c) => {
    if (relayedWithoutCertificate(c)) throw clientCertificateRequired();
    c.header("Content-Type", registry.contentType);
    return c.body(await registry.metrics());
  });

  return app;
}
