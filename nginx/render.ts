/**
 * The one nginx configuration source of Xplicit, rendered for two targets:
 *
 *  - `local`:   the processes of `npm start` (and of the edge tests) on loopback ports; nginx runs as a
 *               non-daemon child with its pid, temp and log paths under a prefix directory of our own.
 *  - `compose`: docker compose service names, re-resolved through Docker's DNS (127.0.0.11) so that
 *               `--scale backend-chat=N` is picked up without a reload.
 *
 * Features that depend on the nginx build (HTTP/3, `http2 on`, `server … resolve` in upstreams) are
 * detected from `nginx -V` and rendered only when that build has them.
 *
 * Self-contained on purpose (only node: imports): the compose nginx image runs this file at build time.
 *
 * CLI: bun nginx/render.ts --target local|compose [--out FILE] [--nginx BIN | --nginx-v-file FILE | --no-detect]
 *      every other option comes from the environment (see `optionsFromEnv`).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { dirname, resolve } from "node:path";

export interface NginxFeatures {
  /** nginx version as [major, minor, patch]. */
  version: [number, number, number];
  /** Built with --with-http_v3_module: `listen … quic` and Alt-Svc are rendered. */
  http3: boolean;
  /** ≥ 1.25.1: `http2 on;` instead of the `http2` listen parameter. */
  http2Directive: boolean;
  /** ≥ 1.27.3 (open source): `server name resolve` inside an upstream with a zone. */
  upstreamResolve: boolean;
}

export interface RenderOptions {
  target: "local" | "compose";
  features: NginxFeatures;
  /** Ports nginx listens on. */
  httpsPort: number;
  httpPort: number;
  /** Addresses to listen on; empty means every interface (compose). Local: loopback only. */
  listenAddresses: string[];
  /** The HTTPS port clients see (redirects, Alt-Svc); differs from httpsPort behind a port mapping. */
  publicHttpsPort: number;
  serverNames: string[];
  /** Directory holding server.crt, server.key, ca.crt (the client CA) and crl.pem (its revocations). */
  certDir: string;
  /** Static files (css, js, images) served by nginx itself. */
  publicDir: string;
  /** host:port of the api (local: one address; compose: a service name). */
  api: string[];
  /** host:port of every chat replica (local) or of the chat service name (compose). */
  chat: string[];
  /** Docker's embedded DNS for the compose target. */
  resolver: string;
  resolverValidSeconds: number;
  /** Local target: directory for pid and temp files. */
  prefixDir: string;
  /**
   * Where the JSON access log goes. Compose: /dev/stdout (Docker collects it). Local: a file in the
   * prefix directory that scripts/start.ts follows (a child's stdout may be a socket, which nginx
   * cannot open by path).
   */
  accessLog: string;
  workerProcesses: number | "auto";
  /**
   * Connections per worker. A proxied WebSocket holds two (client and upstream): nginx's old
   * default of a few thousand would cap the whole edge at a few thousand members online.
   */
  workerConnections: number;
  /** worker_rlimit_nofile: the connections plus spare descriptors (local: at most the hard limit) */
  workerRlimitNofile: number;
  /** Chat tier's app-level ping interval: proxy timeouts must be comfortably longer. */
  chatPingIntervalSeconds: number;
  limits: {
    /** login + registration per client IP, per minute, and the burst allowed before 429. */
    authPerMinute: number;
    authBurst: number;
    /** every /api/ request per client IP, per second, and burst. */
    apiPerSecond: number;
    apiBurst: number;
    /** open WebSocket connections per client IP. */
    wsConnectionsPerIp: number;
    /** WebSocket upgrades per client IP, per second, and burst (reconnect storms). */
    wsUpgradesPerSecond: number;
    wsUpgradeBurst: number;
    /** Request body limits. */
    apiBody: string;
    authBody: string;
  };
}

// ---------------------------------------------------------------------------------------------
// Detection

export function parseNginxV(text: string): NginxFeatures {
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) throw new Error(`cannot read the nginx version from: ${text.slice(0, 200)}`);
  const version: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const atLeast = (a: number, b: number, c: number) =>
    version[0] !== a ? version[0] > a : version[1] !== b ? version[1] > b : version[2] >= c;
  return {
    version,
    http3: /--with-http_v3_module/.test(text),
    http2Directive: atLeast(1, 25, 1),
    upstreamResolve: atLeast(1, 27, 3),
  };
}

/** Runs `nginx -V` (it prints to stderr) and reads what this build supports. */
export function detectNginx(bin = "nginx"): NginxFeatures {
  const r = spawnSync(bin, ["-V"], { encoding: "utf8" });
  if (r.error) throw new Error(`cannot run ${bin} -V: ${r.error.message}`);
  return parseNginxV(`${r.stderr}\n${r.stdout}`);
}

export const NO_FEATURES: NginxFeatures = { version: [1, 22, 0], http3: false, http2Directive: false, upstreamResolve: false };

// ---------------------------------------------------------------------------------------------
// Options

/** 127.0.0.1, plus [::1] when this machine has IPv6 loopback (browsers try "localhost" as ::1 first). */
export function loopbackAddresses(): string[] {
  const hasV6 = Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === "::1"));
  return hasV6 ? ["127.0.0.1", "[::1]"] : ["127.0.0.1"];
}

/** This machine's hard limit on open files (Linux; unlimited elsewhere). */
export function hardDescriptorLimit(): number {
  try {
    const m = /Max open files\s+\S+\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}

type Env = Record<string, string | undefined>;

function envInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`${name}: expected a non-negative integer, got "${raw}"`);
  return Number(raw);
}

function envList(env: Env, name: string, fallback: string[]): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  return raw.split(",").map((s) => s.trim()).filter(Boolean);
}

/**
 * Defaults for each target, overridable from the environment (NGINX_* and EDGE_* variables, all
 * documented in .env.example and the README).
 */
export function optionsFromEnv(target: "local" | "compose", features: NginxFeatures, env: Env = process.env): RenderOptions {
  const local = target === "local";
  const repo = resolve(import.meta.dir, "..");
  const chatReplicas = envInt(env, "CHAT_REPLICAS", 2);
  const chatBase = envInt(env, "CHAT_PORT", 3100);
  const httpsPort = envInt(env, "NGINX_HTTPS_PORT", local ? 8443 : 443);
  const prefixDir = resolve(env.NGINX_PREFIX_DIR ?? resolve(repo, ".tmp/nginx"));
  // Local: no more than this machine's descriptor limit allows (nginx warns about the rest).
  const workerConnections = envInt(env, "NGINX_WORKER_CONNECTIONS", local ? Math.max(1024, Math.min(65536, hardDescriptorLimit() - 1024)) : 65536);
  return {
    target,
    features,
    httpsPort,
    httpPort: envInt(env, "NGINX_HTTP_PORT", local ? 8080 : 80),
    listenAddresses: envList(env, "NGINX_LISTEN_ADDRESSES", local ? loopbackAddresses() : []),
    publicHttpsPort: envInt(env, "NGINX_PUBLIC_HTTPS_PORT", httpsPort),
    serverNames: envList(env, "SERVER_NAMES", ["localhost"]),
    certDir: env.NGINX_CERT_DIR ?? (local ? resolve(env.CERTS_DIR ?? resolve(repo, "certs")) : "/etc/nginx/certs"),
    publicDir: env.NGINX_PUBLIC_DIR ?? (local ? resolve(env.PUBLIC_DIR ?? resolve(repo, "public")) : "/srv/xplicit/public"),
    api: local ? [`127.0.0.1:${envInt(env, "API_PORT", 3000)}`] : [env.NGINX_API_UPSTREAM ?? "api:3000"],
    chat: local
      ? Array.from({ length: chatReplicas }, (_, i) => `127.0.0.1:${chatBase + 1 + i}`)
      : [env.NGINX_CHAT_UPSTREAM ?? "backend-chat:3100"],
    resolver: env.NGINX_RESOLVER ?? "127.0.0.11",
    resolverValidSeconds: envInt(env, "NGINX_RESOLVER_VALID_SECONDS", 5),
    prefixDir,
    accessLog: env.NGINX_ACCESS_LOG ?? (local ? resolve(prefixDir, "access.log") : "/dev/stdout"),
    workerProcesses: env.NGINX_WORKER_PROCESSES ? (env.NGINX_WORKER_PROCESSES === "auto" ? "auto" : Number(env.NGINX_WORKER_PROCESSES)) : "auto",
    workerConnections,
    workerRlimitNofile: local ? Math.min(workerConnections + 1024, hardDescriptorLimit()) : workerConnections + 1024,
    chatPingIntervalSeconds: envInt(env, "CHAT_PING_INTERVAL_SECONDS", 25),
    limits: {
      authPerMinute: envInt(env, "EDGE_AUTH_PER_MINUTE", 20),
      authBurst: envInt(env, "EDGE_AUTH_BURST", 10),
      apiPerSecond: envInt(env, "EDGE_API_PER_SECOND", 50),
      apiBurst: envInt(env, "EDGE_API_BURST", 200),
      wsConnectionsPerIp: envInt(env, "EDGE_WS_CONNECTIONS_PER_IP", 64),
      wsUpgradesPerSecond: envInt(env, "EDGE_WS_UPGRADES_PER_SECOND", 20),
      wsUpgradeBurst: envInt(env, "EDGE_WS_UPGRADE_BURST", 100),
      apiBody: env.EDGE_API_BODY ?? "64k",
      authBody: env.EDGE_AUTH_BODY ?? "8k",
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** Same policy as shared/src/http/security-headers.ts: no inline script anywhere. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function indent(lines: string[], by = "    "): string[] {
  return lines.map((l) => (l ? by + l : l));
}

/** nginx drops inherited add_header lines in any block that has its own, so every such block gets all of them. */
function securityHeaders(o: RenderOptions): string[] {
  const lines = [
    `add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;`,
    `add_header Content-Security-Policy "${CONTENT_SECURITY_POLICY}" always;`,
    `add_header X-Content-Type-Options "nosniff" always;`,
    `add_header Referrer-Policy "same-origin" always;`,
    `add_header X-Frame-Options "DENY" always;`,
    `add_header Cross-Origin-Opener-Policy "same-origin" always;`,
    `add_header Permissions-Policy "camera=(), microphone=(), geolocation=(), payment=()" always;`,
  ];
  if (o.features.http3) lines.push(`add_header Alt-Svc 'h3=":${o.publicHttpsPort}"; ma=86400' always;`);
  return lines;
}

/**
 * Headers sent to every upstream. Each is overwritten (a client's own X-Real-IP, X-Client-* or
 * X-Forwarded-* never reaches a service): proxy_set_header replaces the client's header of that name,
 * and an empty value (no client certificate: empty DN) removes it.
 */
function proxyHeaders(ws = false): string[] {
  return [
    "proxy_http_version 1.1;",
    "proxy_set_header Host $host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_set_header X-Forwarded-For $remote_addr;",
    "proxy_set_header X-Forwarded-Proto https;",
    "proxy_set_header X-Forwarded-Host $host;",
    "proxy_set_header X-Client-Verify $ssl_client_verify;",
    "proxy_set_header X-Client-DN $ssl_client_s_dn;",
    "proxy_set_header X-Client-Fingerprint $ssl_client_fingerprint;",
    ...(ws
      ? ["proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;"]
      : ['proxy_set_header Connection "";']),
    // The edge's headers are the ones clients get; the services' copies are dropped, not doubled.
    "proxy_hide_header Strict-Transport-Security;",
    "proxy_hide_header Content-Security-Policy;",
    "proxy_hide_header X-Content-Type-Options;",
    "proxy_hide_header Referrer-Policy;",
    "proxy_hide_header X-Frame-Options;",
    "proxy_hide_header X-Powered-By;",
  ];
}

/** Where to send a request: a named upstream, or (compose without `resolve`) a variable re-resolved by the resolver. */
function upstreamTarget(o: RenderOptions, name: "api" | "chat", uri = ""): string[] {
  if (o.target === "compose" && !o.features.upstreamResolve) {
    const addr = name === "api" ? o.api[0]! : o.chat[0]!;
    // With a variable, nginx resolves the name at request time (cached `valid` seconds) and
    // round-robins over every address Docker returns: new replicas appear without a reload.
    return [`set $${name}_backend ${addr};`, `proxy_pass http://$${name}_backend${uri};`];
  }
  return [`proxy_pass http://${name}${uri};`];
}

function upstreamBlocks(o: RenderOptions): string[] {
  const out: string[] = [];
  const block = (name: "api" | "chat", servers: string[], balance: string | null, failures: string) => {
    out.push(`upstream ${name} {`);
    if (o.target === "compose") out.push(`    zone ${name} 256k;`);
    if (balance) out.push(`    ${balance};`);
    for (const s of servers) {
      const resolveParam = o.target === "compose" ? " resolve" : "";
      out.push(`    server ${s} ${failures}${resolveParam};`);
    }
    if (name === "api") out.push("    keepalive 32;");
    out.push("}", "");
  };
  if (o.target === "local" || o.features.upstreamResolve) {
    block("api", o.api, null, "max_fails=2 fail_timeout=5s");
    // WebSockets are long-lived: balance on open connections, not on requests. No failure
    // accounting: a replica marked failed is tried again with one connection, whose success nginx
    // counts only when that socket closes — a restarted replica stayed out of rotation (502 "no
    // live upstreams" with every replica ready) for most of a minute. A replica that is down costs
    // an upgrade one refused connect; proxy_next_upstream then takes the next one.
    block("chat", o.chat, "least_conn", "max_fails=0");
  }
  return out;
}

/**
 * nginx's own error responses (limits, oversized bodies or headers, no upstream) in the services'
 * JSON shape `{"error":{"code","message"}}` instead of nginx's HTML pages. Only errors nginx makes
 * itself: an upstream's own error responses pass through untouched (proxy_intercept_errors is off).
 * The error locations add no headers of their own, so the server's security headers apply. They are
 * internal URIs, not named locations: nginx cannot redirect a request it refused before reading a
 * URI (`/%`, `/%00`, `G@T /`, a request line over the header buffer) to a named location, and
 * answered those with its HTML 500 page instead.
 */
const EDGE_ERRORS: { statuses: number[]; status: number; code: string; message: string }[] = [
  { statuses: [400, 497], status: 400, code: "bad_request", message: "the request could not be read" },
  { statuses: [494], status: 431, code: "headers_too_large", message: "request headers are too large" },
  { statuses: [495, 496], status: 400, code: "bad_client_certificate", message: "the client certificate is not accepted" },
  { statuses: [404], status: 404, code: "not_found", message: "no such file" },
  { statuses: [405], status: 405, code: "method_not_allowed", message: "this method is not allowed here" },
  { statuses: [408], status: 408, code: "timeout", message: "the request was not sent in time" },
  { statuses: [413], status: 413, code: "body_too_large", message: "request body is too large" },
  { statuses: [414], status: 414, code: "uri_too_long", message: "request URI is too long" },
  { statuses: [429], status: 429, code: "rate_limited", message: "too many requests; slow down" },
  { statuses: [500], status: 500, code: "internal", message: "internal error" },
  { statuses: [501], status: 501, code: "not_implemented", message: "this transfer encoding or method is not supported" },
  { statuses: [502], status: 502, code: "bad_gateway", message: "no service answered; retry shortly" },
  { statuses: [503], status: 503, code: "unavailable", message: "the service is unavailable; retry shortly" },
  { statuses: [504], status: 504, code: "gateway_timeout", message: "the service did not answer in time; retry shortly" },
];

const G = "[0-9a-f]{1,4}";
/**
 * An IPv6 address (as nginx writes it: lower case, '::' for the longest run of two or more zero
 * groups) → its first four groups, i.e. its /64, in one spelling. Tried in order; an address with
 * a dot (IPv4-mapped) or none of these shapes keeps its own budget. L groups before '::' and R
 * after it stand for 8 − L − R zero groups: the /64 is the L groups, then zeros, then as many of
 * the R groups as are left to make four.
 */
export const IPV6_PREFIX64_MAP: [regex: string, key: string][] = [
  // the first four groups written out
  [`^(?!.*\\.)(?<a4>${G}):(?<b4>${G}):(?<c4>${G}):(?<d4>${G}):`, "$a4:$b4:$c4:$d4"],
  // '::' after three groups: the fourth is zero
  [`^(?!.*\\.)(?<a3>${G}):(?<b3>${G}):(?<c3>${G})::`, "$a3:$b3:$c3:0"],
  // after two: the third and fourth are zero
  [`^(?!.*\\.)(?<a2>${G}):(?<b2>${G})::`, "$a2:$b2:0:0"],
  // after one, with five groups after it (two zeros): the fourth is the first of them
  [`^(?!.*\\.)(?<a1>${G})::(?<e1>${G})(?::${G}){4}$`, "$a1:0:0:$e1"],
  // after one, fewer groups after it: three zeros at least
  [`^(?!.*\\.)(?<a0>${G})::`, "$a0:0:0:0"],
  // at the start: six, five or fewer groups after it
  [`^(?!.*\\.)::(?<f1>${G}):(?<f2>${G})(?::${G}){4}$`, "0:0:$f1:$f2"],
  [`^(?!.*\\.)::(?<g1>${G})(?::${G}){4}$`, "0:0:0:$g1"],
  [`^(?!.*\\.)::`, "0:0:0:0"],
];

/** Where the error locations live: a path no service or file uses. */
const EDGE_ERROR_PREFIX = "/__edge_error/";

/** `inherited`: the add_header lines of the server, which a location with an add_header of its own must repeat. */
function edgeErrorPages(inherited: string[] = []): string[] {
  const out: string[] = ["# nginx's own errors as JSON (see EDGE_ERRORS in nginx/render.ts)."];
  // "=": the answer's status is the one the error location returns (431 for nginx's internal 494),
  // not the status that triggered the page.
  for (const e of EDGE_ERRORS) out.push(`error_page ${e.statuses.join(" ")} = ${EDGE_ERROR_PREFIX}${e.code};`);
  for (const e of EDGE_ERRORS) {
    out.push(
      `location = ${EDGE_ERROR_PREFIX}${e.code} {`,
      // asked for from outside: 404, itself answered by the not_found location
      "    internal;",
      // no extension mapping: /css/missing.css is answered as JSON, not as text/css
      "    types { }",
      "    default_type application/json;",
      // the refused request's body must not make this page a 413 of its own (nginx's HTML one)
      "    client_max_body_size 0;",
      // a refusal of the rate limits says when to come back (the auth budget's interval, else 1 s)
      ...(e.status === 429 ? indent([...inherited, "add_header Retry-After $edge_retry_after always;"]) : []),
      `    return ${e.status} '{"error":{"code":"${e.code}","message":"${e.message}"}}';`,
      "}",
    );
  }
  return out;
}

function mtlsGate(): string[] {
  return [
    "if ($ssl_client_verify != SUCCESS) {",
    `    return 403 '{"error":{"code":"client_certificate_required","message":"this path needs a verified operator client certificate"}}';`,
    "}",
  ];
}

const MIME_TYPES: Record<string, string> = {
  "text/html": "html htm",
  "text/css": "css",
  "text/javascript": "js mjs",
  "application/json": "json map",
  "application/manifest+json": "webmanifest",
  "text/plain": "txt",
  "image/svg+xml": "svg",
  "image/png": "png",
  "image/jpeg": "jpg jpeg",
  "image/webp": "webp",
  "image/avif": "avif",
  "image/gif": "gif",
  "image/x-icon": "ico",
  "font/woff2": "woff2",
  "font/woff": "woff",
};

export function renderNginxConfig(o: RenderOptions): string {
  const f = o.features;
  const local = o.target === "local";
  const wsTimeout = Math.max(60, o.chatPingIntervalSeconds * 3);
  const h2listen = f.http2Directive ? "" : " http2";
  const names = o.serverNames.join(" ");
  const redirectPort = o.publicHttpsPort === 443 ? "" : `:${o.publicHttpsPort}`;
  const L: string[] = [];
  const push = (...lines: string[]) => L.push(...lines);

  push(
    `# Rendered by nginx/render.ts (target: ${o.target}, nginx ${f.version.join(".")}, http3: ${f.http3}, upstream resolve: ${f.upstreamResolve}).`,
    "# Do not edit: change nginx/render.ts and render again.",
    "daemon off;",
    // Local stack: nginx serves public/ straight from the checkout, which the default worker user
    // (nobody) often cannot traverse (a home or mktemp directory). Started as root, the workers keep
    // the starting user; started as anyone else, nginx cannot switch users anyway.
    ...(local && process.getuid?.() === 0 ? ["user root;"] : []),
    `worker_processes ${o.workerProcesses};`,
    // Unlike Bun, nginx does not raise its own descriptor limit (a container's soft limit may be
    // 1024): ask for what the connections need. Above the hard limit nginx logs an alert and keeps
    // the limit it has.
    `worker_rlimit_nofile ${o.workerRlimitNofile};`,
    // A restart or stop waits for open WebSockets to end (the listeners are already closed): cut
    // them after this long, so the edge is back in seconds and the clients resume (a compose stop
    // otherwise waited its whole grace period, 30 s, with no edge).
    "worker_shutdown_timeout 5s;",
    local ? `pid ${o.prefixDir}/nginx.pid;` : "pid /tmp/nginx.pid;",
    "error_log stderr warn;",
    "",
    "events {",
    `    worker_connections ${o.workerConnections};`,
    "}",
    "",
    "http {",
  );
  // Compose: the root file system is read-only, /tmp is a tmpfs.
  const tmp = local ? o.prefixDir : "/tmp";
  const http: string[] = [
    "types {",
    ...Object.entries(MIME_TYPES).map(([t, exts]) => `    ${t} ${exts};`),
    "}",
    "default_type application/octet-stream;",
    `client_body_temp_path ${tmp}/client_body;`,
    `proxy_temp_path ${tmp}/proxy;`,
    `fastcgi_temp_path ${tmp}/fastcgi;`,
    `uwsgi_temp_path ${tmp}/uwsgi;`,
    `scgi_temp_path ${tmp}/scgi;`,
    "",
    "# One JSON object per line, like every other Xplicit process.",
    "log_format json escape=json '{\"ts\":\"$time_iso8601\",\"level\":\"info\",\"service\":\"nginx\",\"module\":\"access\",\"msg\":\"request\",'",
    "    '\"method\":\"$request_method\",\"uri\":\"$request_uri\",\"status\":$status,\"bytes\":$body_bytes_sent,'",
    "    '\"ms\":$request_time,\"upstream\":\"$upstream_addr\",\"upstreamMs\":\"$upstream_response_time\",'",
    "    '\"ip\":\"$remote_addr\",\"proto\":\"$server_protocol\",\"tls\":\"$ssl_protocol\",\"clientCert\":\"$ssl_client_verify\",'",
    "    '\"ua\":\"$http_user_agent\",\"requestId\":\"$request_id\"}';",
    `access_log ${o.accessLog} json;`,
    "",
    "server_tokens off;",
    "sendfile on;",
    "tcp_nopush on;",
    "keepalive_timeout 65s;",
    "client_body_timeout 15s;",
    "client_header_timeout 15s;",
    "send_timeout 30s;",
    "client_max_body_size 16k;",
    "gzip on;",
    "gzip_types text/css text/javascript application/json image/svg+xml;",
    "gzip_min_length 1024;",
    "",
    "limit_req_status 429;",
    "limit_conn_status 429;",
    "# Per-client budgets: an IPv4 address, or an IPv6 address's /64 (one subscriber usually holds a",
    "# whole /64; counting each address apart would give them 2^64 budgets). The /64 is read from the",
    "# text form, whose '::' (two or more zero groups, RFC 5952) may fall in the first four groups.",
    "map $remote_addr $client_budget {",
    ...IPV6_PREFIX64_MAP.map(([re, key]) => `    "~${re}" "${key}";`),
    "    default $binary_remote_addr;",
    "}",
    `limit_req_zone $client_budget zone=auth:10m rate=${o.limits.authPerMinute}r/m;`,
    `limit_req_zone $client_budget zone=api:10m rate=${o.limits.apiPerSecond}r/s;`,
    `limit_req_zone $client_budget zone=ws_upgrade:10m rate=${o.limits.wsUpgradesPerSecond}r/s;`,
    "limit_conn_zone $client_budget zone=ws_conn:10m;",
    "# Retry-After of a 429: when the budget of the refused request has room again ($request_uri:",
    "# the error page is an internal redirect, whose $uri is its own).",
    "map $request_uri $edge_retry_after {",
    `    "~^/api/auth/(login|register)(\\?|$)" ${Math.max(1, Math.ceil(60 / o.limits.authPerMinute))};`,
    "    default 1;",
    "}",
    "",
    "map $http_upgrade $connection_upgrade {",
    "    default upgrade;",
    "    ''      close;",
    "}",
    "",
    "# Versioned asset URLs (?v=… or a content hash in the file name) never change: cache for a year.",
    "# Anything else is revalidated (ETag) on every use.",
    "map $request_uri $asset_cache_control {",
    "    \"~[?&]v=[^&]+\"                         \"public, max-age=31536000, immutable\";",
    "    \"~\\.[0-9a-f]{8,}\\.[a-z0-9]+(\\?|$)\"   \"public, max-age=31536000, immutable\";",
    "    default                               \"no-cache\";",
    "}",
    "",
    "ssl_protocols TLSv1.2 TLSv1.3;",
    "ssl_prefer_server_ciphers off;",
    "ssl_session_cache shared:TLS:10m;",
    "ssl_session_timeout 1d;",
    "ssl_session_tickets off;",
    "",
  ];
  if (!local) {
    // Without `resolve` every request re-uses the cached answer and starts at its first address, so
    // connections follow Docker's (shuffled) record order: re-resolve every second to keep spreading.
    const valid = f.upstreamResolve ? o.resolverValidSeconds : Math.min(o.resolverValidSeconds, 1);
    http.push(`resolver ${o.resolver} valid=${valid}s ipv6=off;`, "resolver_timeout 3s;", "");
  }
  http.push(...upstreamBlocks(o));

  // Port 80 / 8080: nothing but a redirect (in a location, so that the error locations still answer
  // a request nginx could not read: a server-level return would redirect those too).
  const at = (port: number) => (o.listenAddresses.length ? o.listenAddresses.map((a) => `${a}:${port}`) : [`${port}`]);
  http.push(
    "server {",
    ...at(o.httpPort).map((a) => `    listen ${a} default_server;`),
    `    server_name ${names};`,
    // whatever the body, the answer is the redirect (a body limit here would turn it into a 413)
    "    client_max_body_size 0;",
    ...indent(edgeErrorPages()),
    "    location / {",
    // to the configured name, never to the Host the client sent (a redirect to any host it names)
    `        return 301 https://$server_name${redirectPort}$request_uri;`,
    "    }",
    "}",
    "",
  );

  const srv: string[] = [];
  for (const a of at(o.httpsPort)) {
    srv.push(`listen ${a} ssl${h2listen} default_server;`);
    if (f.http3) srv.push(`listen ${a} quic reuseport default_server;`);
  }
  if (f.http2Directive) srv.push("http2 on;");
  if (f.http3) srv.push("http3 on;");
  srv.push(
    `server_name ${names};`,
    "# nginx's own redirects (a prefix location asked without its slash: /ops → /ops/) are relative:",
    "# an absolute one is built from the client's Host (or an absolute-form request line).",
    "absolute_redirect off;",
    `ssl_certificate ${o.certDir}/server.crt;`,
    `ssl_certificate_key ${o.certDir}/server.key;`,
    "# mTLS: a client certificate is asked for, never required at the handshake; the operator paths",
    "# below refuse requests without a verified one.",
    `ssl_client_certificate ${o.certDir}/ca.crt;`,
    "# revoked client certificates (npm run certs -- revoke <name>); read when nginx starts",
    `ssl_crl ${o.certDir}/crl.pem;`,
    "ssl_verify_client optional;",
    "ssl_verify_depth 2;",
    "",
    ...securityHeaders(o),
    "",
    ...edgeErrorPages(securityHeaders(o)),
    "",
    "# nginx picks a location by the normalised path but passes the path on as sent: a backslash,",
    "# which nginx keeps as a character and the services (WHATWG URLs) read as '/', would reach a",
    "# route nginx never chose (`/x\\..\\metrics` is /metrics without the certificate check).",
    'if ($request_uri ~ "^[^?]*(\\x5c|%5[cC])") {',
    // (`return 400` here would be answered by error_page, whose redirect comes back through this
    // check and ends in nginx's HTML page)
    `    rewrite ^ ${EDGE_ERROR_PREFIX}bad_request last;`,
    "}",
    "",
    "location = /nginx-healthz {",
    "    access_log off;",
    "    default_type text/plain;",
    "    return 200 'ok';",
    "}",
    "",
    "# Operators only (verified client certificate).",
    "location = /status {",
    ...indent([...mtlsGate(), "default_type application/json;", ...proxyHeaders(), ...upstreamTarget(o, "api", "/ops/status")]),
    "}",
    "location /ops/ {",
    ...indent([...mtlsGate(), "default_type application/json;", ...proxyHeaders(), ...upstreamTarget(o, "api")]),
    "}",
    "location = /metrics {",
    ...indent([...mtlsGate(), "default_type application/json;", ...proxyHeaders(), ...upstreamTarget(o, "api", "/metrics")]),
    "}",
    "location /api/admin/ {",
    ...indent([
      ...mtlsGate(),
      "default_type application/json;",
      `client_max_body_size ${o.limits.apiBody};`,
      ...proxyHeaders(),
      ...upstreamTarget(o, "api"),
    ]),
    "}",
    "",
    "# Logins and registrations: a tight per-IP budget against credential stuffing.",
    "location ~ ^/api/auth/(login|register)$ {",
    ...indent([
      `limit_req zone=auth burst=${o.limits.authBurst} nodelay;`,
      `limit_req zone=api burst=${o.limits.apiBurst} nodelay;`,
      `client_max_body_size ${o.limits.authBody};`,
      ...proxyHeaders(),
      ...upstreamTarget(o, "api"),
    ]),
    "}",
    "",
    "location /api/ {",
    ...indent([
      `limit_req zone=api burst=${o.limits.apiBurst} nodelay;`,
      `client_max_body_size ${o.limits.apiBody};`,
      ...proxyHeaders(),
      ...upstreamTarget(o, "api"),
    ]),
    "}",
    "",
    "# Deleting an account can take minutes for a member of big groups (the api gives it 10): the",
    "# edge waits as long, and never sends the request to another api process meanwhile.",
    "location = /api/me {",
    ...indent([
      `limit_req zone=api burst=${o.limits.apiBurst} nodelay;`,
      `client_max_body_size ${o.limits.apiBody};`,
      "proxy_read_timeout 600s;",
      "proxy_next_upstream off;",
      ...proxyHeaders(),
      ...upstreamTarget(o, "api"),
    ]),
    "}",
    "",
    "# The sockets' long-poll fallback: a parked request holds connections as a socket does, so it",
    "# counts against the same per-IP cap (without it one IP could park 50 a second).",
    "location = /api/events {",
    ...indent([
      `limit_conn ws_conn ${o.limits.wsConnectionsPerIp};`,
      `limit_req zone=api burst=${o.limits.apiBurst} nodelay;`,
      `client_max_body_size ${o.limits.apiBody};`,
      // (GET /api/events?wait=25 must outlive its wait)
      "proxy_read_timeout 60s;",
      ...proxyHeaders(),
      ...upstreamTarget(o, "api"),
    ]),
    "}",
    "",
    "# WebSockets to the chat tier. Timeouts well above the chat ping interval",
    `# (${o.chatPingIntervalSeconds}s) so idle but healthy sockets are never cut by the proxy.`,
    "location = /ws {",
    ...indent([
      `limit_conn ws_conn ${o.limits.wsConnectionsPerIp};`,
      `limit_req zone=ws_upgrade burst=${o.limits.wsUpgradeBurst} nodelay;`,
      "client_max_body_size 1k;",
      ...proxyHeaders(true),
      "proxy_buffering off;",
      // A replica just removed (scaled down, killed) can still be handed out by DNS for a moment:
      // a connect to it times out, and the upgrade goes to the next one after this long, not 5 s
      // (three tries of 5 s outlasted the 10 s the web client waits for a welcome).
      "proxy_connect_timeout 1s;",
      `proxy_read_timeout ${wsTimeout}s;`,
      `proxy_send_timeout ${wsTimeout}s;`,
      // A draining replica refuses the upgrade with 503: try another one — every replica if need
      // be (a scale-down from 5 to 2 drains three at once: three tries could all land on them),
      // within less than the 10 s the web client waits for a welcome.
      "proxy_next_upstream error timeout http_502 http_503;",
      "proxy_next_upstream_tries 0;",
      "proxy_next_upstream_timeout 8s;",
      ...upstreamTarget(o, "chat"),
    ]),
    "}",
    "",
    "# Hidden files and folders (.git, .env, …) are never served, whatever the path.",
    "location ~ /\\. {",
    "    types { }",
    "    default_type application/json;",
    "    return 404 '{\"error\":{\"code\":\"not_found\",\"message\":\"not found\"}}';",
    "}",
    "# Static assets straight from disk: only the types the pages use (anything else, e.g. a source",
    "# map or an editor's backup, goes to the api, which answers 404).",
    "location ~ ^/(css|js|img|fonts|assets)/.*\\.(css|js|svg|png|webp|ico|woff2|webmanifest)$ {",
    ...indent([
      `root ${o.publicDir};`,
      "access_log off;",
      "etag on;",
      ...securityHeaders(o),
      "add_header Cache-Control $asset_cache_control always;",
      "try_files $uri =404;",
    ]),
    "}",
    "location ~ ^/(robots\\.txt|manifest\\.webmanifest)$ {",
    ...indent([`root ${o.publicDir};`, "access_log off;", ...securityHeaders(o), 'add_header Cache-Control "public, max-age=86400" always;', "try_files $uri =404;"]),
    "}",
    "# Browsers ask for /favicon.ico whatever the page says: the site's icon (as the api answers).",
    "location = /favicon.ico {",
    ...indent([`root ${o.publicDir};`, "access_log off;", "try_files $uri /img/icon.svg;"]),
    "}",
    "",
    "# Pages and everything else: the api.",
    "location / {",
    ...indent([`limit_req zone=api burst=${o.limits.apiBurst} nodelay;`, ...proxyHeaders(), ...upstreamTarget(o, "api")]),
    "}",
  );
  http.push("server {", ...indent(srv), "}");
  push(...indent(http), "}", "");
  return L.join("\n");
}

/** Directories a local nginx needs before it starts. */
export function prepareLocalPrefix(o: RenderOptions): void {
  for (const d of ["", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(resolve(o.prefixDir, d), { recursive: true });
}

// ---------------------------------------------------------------------------------------------
// CLI

if (import.meta.main) {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const target = (arg("--target") ?? "local") as "local" | "compose";
  if (target !== "local" && target !== "compose") {
    console.error(`--target must be local or compose, got ${target}`);
    process.exit(2);
  }
  // --nginx-v-file: the saved output of `nginx -V` (the compose image build renders in a bun stage).
  const vFile = arg("--nginx-v-file");
  const features = args.includes("--no-detect")
    ? NO_FEATURES
    : vFile
      ? parseNginxV(readFileSync(vFile, "utf8"))
      : detectNginx(arg("--nginx") ?? process.env.NGINX_BIN ?? "nginx");
  const options = optionsFromEnv(target, features);
  const text = renderNginxConfig(options);
  const out = arg("--out");
  if (out) {
    mkdirSync(dirname(resolve(out)), { recursive: true });
    writeFileSync(out, text);
    if (target === "local") prepareLocalPrefix(options);
    console.error(`wrote ${out} (target ${target}, nginx ${features.version.join(".")}, http3 ${features.http3}, upstream resolve ${features.upstreamResolve})`);
  } else {
    process.stdout.write(text);
  }
}
