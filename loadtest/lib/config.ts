/**
 * Everything a load test reads from the environment (`k6 run -e NAME=value` or the process env).
 * Read once, in the init context, so every VU sees the same values.
 */
import type { Certificate } from "k6/options";

function env(name: string, fallback: string): string {
  const v = __ENV[name];
  return v === undefined || v === "" ? fallback : v;
}

export function envInt(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
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

/** http(s)://host[:port] of the api (directly, or nginx in front of everything). */
export const BASE_URL = env("BASE_URL", "http://127.0.0.1:3000").replace(/\/+$/, "");

/**
 * WebSocket endpoint(s). A comma-separated list spreads sockets round-robin over the chat
 * replicas (local stack without nginx); through nginx it is one URL.
 */
export const WS_URLS: string[] = env(
  "WS_URL",
  BASE_URL.startsWith("https://") ? `${BASE_URL.replace(/^https/, "wss")}/ws` : "ws://127.0.0.1:3101/ws,ws://127.0.0.1:3102/ws",
)
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

/** Must equal one of the server's PUBLIC_ORIGINS (CSRF rule for POSTs and WebSocket upgrades). */
export const ORIGIN = env("ORIGIN", BASE_URL.startsWith("https://") ? "https://localhost:8443" : "http://localhost:3000");

export const COOKIE_NAME = env("COOKIE_NAME", "__Host-sid");

/** Prefix of the handles/emails a run creates; a fixed value lets a second run log in instead of registering. */
export const RUN_ID = env("RUN_ID", `${Date.now().toString(36)}`);

export const PASSWORD = env("MEMBER_PASSWORD", "load-test-password-1");

/** Host name (without port) of BASE_URL, for `tlsAuth` domain matching. */
export function baseHost(): string {
  const m = /^[a-z]+:\/\/(\[[^\]]+\]|[^/:]+)/i.exec(BASE_URL);
  return m && m[1] ? m[1] : "localhost";
}

/**
 * Client certificate for mTLS-protected paths (operators' broadcast endpoint through nginx).
 * `open()` is only legal in the init context, so callers evaluate this at module top level.
 */
export function clientCertificates(): Certificate[] {
  const cert = __ENV.CLIENT_CERT;
  const key = __ENV.CLIENT_KEY;
  if (!cert || !key) return [];
  return [{ domains: [baseHost()], cert: open(cert), key: open(key) }];
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
