/**
 * The operators' aggregated status page: every replica's `/status` JSON in one view.
 *
 * nginx maps `GET /status` (verified client certificate only) to `GET /ops/status` of the api. The
 * route checks the certificate again itself (X-Client-Verify from a trusted proxy), so reaching the
 * api directly does not bypass it. Mounted at the api's root (`app.route("/", operationsRoutes(…))`),
 * outside /api, so no member-session middleware is involved: operators are certificates, not members.
 *
 * Targets come from STATUS_TARGETS: `name=url` pairs, comma-separated, e.g.
 *   api=http://127.0.0.1:3000,chat=http://127.0.0.1:3101,chat=http://127.0.0.1:3102,worker=http://127.0.0.1:3200
 * A host name that resolves to several addresses (a scaled compose service: `chat=http://backend-chat:3100`)
 * is expanded to one target per address, so every replica appears, including ones added a second ago.
 *
 * `Accept: text/html` gets a plain page (no script, no inline style: the CSP stays strict);
 * anything else gets JSON.
 */
import { Hono } from "hono";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { clientCertificate, clientCertificateRequired } from "@xplicit/shared/http";

export interface StatusTarget {
  name: string;
  url: string;
}

export interface OperationsOptions {
  /** STATUS_TARGETS, unparsed, or already parsed targets. Empty: only `self`. */
  targets: string | StatusTarget[];
  /** The api's own base URL, used when no targets are configured. */
  self?: string;
  trustedProxies: readonly string[];
  /** Per-replica timeout. */
  timeoutMs?: number;
  /** Skip the client-certificate check (only for tests of the aggregation itself). */
  requireClientCertificate?: boolean;
}

export interface ReplicaStatus {
  name: string;
  url: string;
  ok: boolean;
  ms: number;
  status?: unknown;
  error?: string;
}

export function parseStatusTargets(raw: string): StatusTarget[] {
  const out: StatusTarget[] = [];
  for (const item of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`STATUS_TARGETS: expected name=url, got "${item}"`);
    const name = item.slice(0, eq).trim();
    const url = item.slice(eq + 1).trim().replace(/\/+$/, "");
    if (!/^https?:\/\//.test(url)) throw new Error(`STATUS_TARGETS: "${url}" is not an http(s) URL`);
    out.push({ name, url });
  }
  return out;
}

/** One target per address of each host name (replicas of a scaled service). */
export async function expandTargets(targets: StatusTarget[]): Promise<StatusTarget[]> {
  const expanded = await Promise.all(
    targets.map(async (t) => {
      const u = new URL(t.url);
      const host = u.hostname.replace(/^\[|\]$/g, "");
      if (isIP(host) || host === "localhost") return [t];
      try {
        const addrs = await lookup(host, { all: true });
        if (addrs.length <= 1) return [t];
        return addrs
          .sort((a, b) => a.address.localeCompare(b.address))
          .map((a) => {
            const copy = new URL(t.url);
            copy.hostname = a.family === 6 ? `[${a.address}]` : a.address;
            return { name: t.name, url: copy.toString().replace(/\/+$/, "") };
          });
      } catch {
        return [t];
      }
    }),
  );
  return expanded.flat();
}

async function fetchStatus(t: StatusTarget, timeoutMs: number): Promise<ReplicaStatus> {
  const started = performance.now();
  try {
    const res = await fetch(`${t.url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    const ms = Math.round(performance.now() - started);
    if (!res.ok) return { ...t, ok: false, ms, error: `HTTP ${res.status}` };
    return { ...t, ok: true, ms, status: await res.json() };
  } catch (err) {
    return { ...t, ok: false, ms: Math.round(performance.now() - started), error: (err as Error).message };
  }
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

function renderHtml(generatedAt: string, replicas: ReplicaStatus[]): string {
  const sections = replicas
    .map((r) => {
      const title = `${r.name} — ${r.url} — ${r.ok ? "ok" : "DOWN"} (${r.ms} ms)`;
      const body = r.ok ? JSON.stringify(r.status, null, 2) : (r.error ?? "unreachable");
      return `<section><h2>${escapeHtml(title)}</h2><pre>${escapeHtml(body)}</pre></section>`;
    })
    .join("\n");
  const up = replicas.filter((r) => r.ok).length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10"><title>Xplicit status</title></head>
<body><h1>Xplicit status</h1><p>${up} of ${replicas.length} replicas answering · ${escapeHtml(generatedAt)}</p>
${sections}
</body></html>
`;
}

export function operationsRoutes(opts: OperationsOptions): Hono {
  const app = new Hono();
  let targets = typeof opts.targets === "string" ? parseStatusTargets(opts.targets) : opts.targets;
  if (targets.length === 0 && opts.self) targets = [{ name: "api", url: opts.self }];
  const timeoutMs = opts.timeoutMs ?? 2000;

  app.get("/ops/status", async (c) => {
    if (opts.requireClientCertificate !== false && !clientCertificate(c, opts.trustedProxies).verified) {
      throw clientCertificateRequired();
    }
    const replicas = await Promise.all((await expandTargets(targets)).map((t) => fetchStatus(t, timeoutMs)));
    const generatedAt = new Date().toISOString();
    c.header("Cache-Control", "no-store");
    if ((c.req.header("accept") ?? "").includes("text/html")) return c.html(renderHtml(generatedAt, replicas));
    return c.json({ generatedAt, up: replicas.filter((r) => r.ok).length, total: replicas.length, replicas });
  });

  return app;
}
