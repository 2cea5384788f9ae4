/**
 * Everything a load test reads from the environment (`k6 run -e NAME=value` or the process env).
 * Read in the init context. Each VU runs the init context on its own, so nothing here may differ
 * between VUs: values that must be shared by every VU of a run (the run id) are made in setup()
 * and handed to the VUs in its data.
 */
import type { Certificate } from "k6/options";

function env(name: string, fallback: string): string {
  const v = __ENV[name];
  return v === undefined || v === "" ? fallback : v;
}

/**
 * A whole number (VU counts, rates, iterations: k6 rejects a fraction in any of its integer
 * options, e.g. `rate: 2.5` fails the scenario's validation), at least `min`.
 */
export function envInt(name: string, fallback: number, min = 0): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be a whole number >= ${min}, got "${raw}"`);
  return n;
}

/** A number that may have a fraction (threshold limits in ms). */
export function envNumber(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number >= 0, got "${raw}"`);
  return n;
}

export function envStr(name: string, fallback: string): string {
  return env(name, fallback);
}

export function envBool(name: string, fallback: boolean): boolean {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  return raw === "1" || raw.toLowerCase() === "true" || raw.toLowerCase() === "yes";
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/**
 * A duration in seconds: a bare number is seconds; otherwise k6-style units, e.g. "90s", "2m",
 * "1h30m", "500ms".
 */
export function envSeconds(name: string, fallback: number): number {
  const raw = (__ENV[name] ?? "").trim();
  if (raw === "") return fallback;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = "";
  let m: RegExpExecArray | null;
  while ((m = re.exec(raw)) !== null) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    consumed += m[0];
  }
  // Zero is as valid written "0s" as "0" (RAMP_SECONDS, DRAIN_SECONDS, OFFLINE_SECONDS may be 0).
  if (consumed !== raw) throw new Error(`${name} must be a duration like 90, 90s, 2m or 1h30m, got "${raw}"`);
  return total;
}

/** http(s)://host[:port] of the api (directly, or nginx in front of everything). */
export const BASE_URL = env("BASE_URL", "http://127.0.0.1:3000").replace(/\/+$/, "");

const BASE_URL_SHAPE = /^(https?):\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?/i;
const BASE = BASE_URL_SHAPE.exec(BASE_URL);
if (!BASE) throw new Error(`BASE_URL must be http(s)://host[:port], got "${BASE_URL}"`);
const BASE_SCHEME = BASE[1]!.toLowerCase();
const BASE_HOST = BASE[2]!;
const BASE_PORT = BASE[3] ?? "";

/** The README's local stack (`npm start`): the api on 3000, the chat replicas on 3101 and 3102. */
const LOCAL_API_PORT = "3000";
const LOCAL_CHAT_PORTS = [3101, 3102];

/**
 * Where WebSockets go when WS_URL is unset: through nginx (an https BASE_URL) its `/ws` on the same
 * host; beside the local stack's api (an http BASE_URL on port 3000) that host's replicas on 3101
 * and 3102. Any other http BASE_URL names an api whose replicas cannot be guessed.
 */
function defaultWsUrl(baseUrl: string): string {
  const base = BASE_URL_SHAPE.exec(baseUrl);
  if (!base) throw new Error(`BASE_URL must be http(s)://host[:port], got "${baseUrl}"`);
  const [, scheme, host, port] = base;
  if (scheme!.toLowerCase() === "https") return `${baseUrl.replace(/^https/i, "wss")}/ws`;
  if (port === LOCAL_API_PORT) return LOCAL_CHAT_PORTS.map((p) => `ws://${host}:${p}/ws`).join(",");
  throw new Error(
    `WS_URL is not set and BASE_URL ${baseUrl} is neither nginx (https://…, whose /ws reaches the chat replicas) ` +
      `nor the local stack's api on port ${LOCAL_API_PORT} (replicas on ${LOCAL_CHAT_PORTS.join(" and ")}): ` +
      `name the replicas, e.g. -e WS_URL=ws://${host}:3101/ws,ws://${host}:3102/ws`,
  );
}

/** The WebSocket URL list for a BASE_URL and a WS_URL ("" = unset); throws on a malformed one. */
export function webSocketUrlsFor(baseUrl: string, wsUrl: string): string[] {
  const list = (wsUrl === "" ? defaultWsUrl(baseUrl) : wsUrl)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0 || list.some((u) => !/^wss?:\/\/[^/]+/i.test(u))) {
    throw new Error(`WS_URL must be a comma-separated list of ws(s)://host[:port]/ws URLs, got "${wsUrl}"`);
  }
  return list;
}

/**
 * WebSocket endpoint(s): WS_URL, or the default above. A comma-separated list spreads sockets
 * round-robin over the chat replicas (local stack without nginx); through nginx it is one URL
 * (BASE_URL + /ws). Scripts that open sockets call this at their top level, in the init context,
 * so k6 stops before setup() on a missing or malformed value: otherwise k6's WebSocket constructor
 * (or, for an empty list, a TypeError) throws in every VU's session, after setup() has registered
 * all the members. (api.ts opens none and needs no WS_URL.)
 */
export function webSocketUrls(): string[] {
  return webSocketUrlsFor(BASE_URL, env("WS_URL", ""));
}

/**
 * The Origin sent on every request and WebSocket upgrade. It must be one of the server's
 * PUBLIC_ORIGINS (CSRF rule for POSTs/DELETEs and for the upgrade), or the server answers 403.
 * Through nginx that is the public origin itself, i.e. BASE_URL's scheme://host[:port]
 * (`npm start`: https://localhost:8443; compose: https://localhost or https://localhost:HTTPS_PORT).
 * Straight to the api it is the api's own http://localhost:API_PORT, which `npm start` and the
 * config defaults list. A 127.0.0.1 or [::1] BASE_URL still sends the "localhost" origin (the
 * server compares the Origin with PUBLIC_ORIGINS, not with the host it was reached at).
 */
function defaultOrigin(): string {
  const host = BASE_HOST === "127.0.0.1" || BASE_HOST === "[::1]" ? "localhost" : BASE_HOST.toLowerCase();
  const defaultPort = BASE_SCHEME === "https" ? "443" : "80";
  return `${BASE_SCHEME}://${host}${BASE_PORT && BASE_PORT !== defaultPort ? `:${BASE_PORT}` : ""}`;
}
export const ORIGIN = env("ORIGIN", defaultOrigin());

export const COOKIE_NAME = env("COOKIE_NAME", "__Host-sid");

/**
 * Prefix of the handles/emails a run creates. A fixed RUN_ID lets a second run log in instead of
 * registering; without one, setup() makes a fresh id (never the init context: every VU runs it at
 * a different time and would get a different id).
 */
export function newRunId(): string {
  const fixed = __ENV.RUN_ID;
  if (fixed) {
    if (!/^[A-Za-z0-9]{1,12}$/.test(fixed)) throw new Error(`RUN_ID must be 1-12 letters/digits, got "${fixed}"`);
    return fixed.toLowerCase();
  }
  return Date.now().toString(36);
}

export const PASSWORD = env("MEMBER_PASSWORD", "load-test-password-1");

/**
 * Sign-ups setup() makes at once (one http.batch). Password hashing makes each one cost the api
 * tens of milliseconds of CPU, so more at once helps only where the api has cores to spare: about
 * 8.6 a second were measured at 8 on a 2-core machine (LISTENERS=5880 then takes 11 minutes).
 */
export const REGISTER_CONCURRENCY = envInt("REGISTER_CONCURRENCY", 8, 1);

/**
 * k6 runs at most `batchPerHost` (6 by default) and `batch` (20) requests of one http.batch at
 * once: raised so setup's sign-ups really run REGISTER_CONCURRENCY at a time (and `atLeast` for a
 * script's own batches).
 */
export function batchOptions(atLeast = 0): { batch: number; batchPerHost: number } {
  const n = Math.max(REGISTER_CONCURRENCY, atLeast);
  return { batch: Math.max(20, n), batchPerHost: Math.max(6, n) };
}

/**
 * After a session's drain, ask the api (GET /api/events) what the member's event log holds beyond
 * the socket's cursor: events that were in the log and still had not arrived TAIL_GRACE_MS later
 * count as lost (the seq-gap check alone cannot see a missing tail). TAIL_CHECK=0 turns it off.
 */
export const TAIL_CHECK = envBool("TAIL_CHECK", true);
export const TAIL_GRACE_MS = envInt("TAIL_GRACE_MS", 2000);

/**
 * A path given in the environment, as an absolute path. k6 resolves a relative open() path against
 * the script's directory (loadtest/), not the shell's: make it relative to $PWD instead, which k6
 * passes through in __ENV (k6 run includes the system environment by default).
 */
function envPath(name: string, p: string): string {
  if (p.startsWith("/") || p.startsWith("file://") || /^[A-Za-z]:[\\/]/.test(p)) return p;
  const pwd = __ENV.PWD;
  if (!pwd) throw new Error(`${name}="${p}" is relative and PWD is not set (k6 would read it relative to the script): give an absolute path`);
  return `${pwd.replace(/\/+$/, "")}/${p}`;
}

/**
 * Client certificate for mTLS-protected paths (operators' broadcast endpoint through nginx).
 * `open()` is only legal in the init context, so callers evaluate this at module top level.
 */
export function clientCertificates(): Certificate[] {
  const cert = __ENV.CLIENT_CERT;
  const key = __ENV.CLIENT_KEY;
  if (!cert && !key) return [];
  if (!cert || !key) throw new Error("CLIENT_CERT and CLIENT_KEY go together (PEM files)");
  // No `domains`: Go's TLS client ignores them (it offers the certificate whenever the server asks
  // and its CA list matches), and k6 logs a deprecation warning when they are set.
  return [{ cert: open(envPath("CLIENT_CERT", cert)), key: open(envPath("CLIENT_KEY", key)) }];
}

/**
 * TLS options shared by every script. For the dev CA from `npm run certs`, prefer trusting it
 * (`SSL_CERT_FILE=certs/ca.crt k6 run …`, honoured by k6's Go TLS stack on Linux) over
 * INSECURE=1, which skips verification altogether.
 */
export function tlsOptions(): { insecureSkipTLSVerify?: boolean; tlsAuth?: Certificate[] } {
  const out: { insecureSkipTLSVerify?: boolean; tlsAuth?: Certificate[] } = {};
  if (envBool("INSECURE", false)) out.insecureSkipTLSVerify = true;
  const certs = clientCertificates();
  if (certs.length) out.tlsAuth = certs;
  return out;
}
