/**
 * One error type for every expected failure. Handlers throw `AppError`; `onError` turns it into
 * `{"error":{"code","message"}}` with its status, and anything else into an opaque 500.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { createLogger } from "../log/index.ts";

const log = createLogger("errors");

export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const badRequest = (code: string, message: string) => new AppError(400, code, message);
export const unauthorized = (message = "sign in first") => new AppError(401, "unauthenticated", message);
export const forbidden = (code: string, message: string) => new AppError(403, code, message);
export const notFound = (message = "not found") => new AppError(404, "not_found", message);
export const conflict = (code: string, message: string) => new AppError(409, code, message);
export const bodyTooLarge = (message = "request body is too large") => new AppError(413, "body_too_large", message);
export const unprocessable = (code: string, message: string) => new AppError(422, code, message);
export const tooManyRequests = (retryAfterSeconds: number, message = "too many requests") =>
  new AppError(429, "rate_limited", message, { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) });

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/**
 * postgres.js' own connection failures, and Postgres saying it is shutting down or starting up,
 * refusing connections to the database (55000: ALLOW_CONNECTIONS false), out of connection slots
 * (53300), read-only (25006: a demoted primary, before the failover points us elsewhere), or
 * cancelling a statement that outran DATABASE_STATEMENT_TIMEOUT_MS (57014: stuck behind a lock).
 */
const NETWORK_AWAY = new Set(["ECONNREFUSED", "ECONNRESET", "EAI_AGAIN", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"]);
const POSTGRES_AWAY = new Set(["CONNECTION_CLOSED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "CONNECTION_ENDED", "57P01", "57P02", "57P03", "55000", "53300", "25006", "57014"]);

/**
 * Postgres or Redis cannot be reached right now (restarting, failing over): the request may
 * succeed in a moment, so the answer is 503 with Retry-After, not a 500 that says the server is broken.
 */
export function isDependencyUnavailable(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  // (a stopped container's name stops resolving: EAI_AGAIN / ENOTFOUND, or its address stops routing)
  if (typeof code === "string" && (POSTGRES_AWAY.has(code) || code.startsWith("08") || NETWORK_AWAY.has(code))) return true;
  // ioredis: a command given up on while reconnecting, sent to a closed connection, or unanswered
  // within the command timeout (a frozen Redis)
  if (err.name === "MaxRetriesPerRequestError" || /^Connection is closed\.?$|Stream isn't writeable|^Command timed out$/.test(err.message)) return true;
  // Redis out of memory refuses writes (a transaction around one is discarded): it comes back
  // when memory is freed, as a restart does
  // (also as the text of a script's error, e.g. an append that Redis refused inside a Lua call)
  if (/OOM command not allowed|EXECABORT Transaction discarded because of previous errors/.test(err.message)) return true;
  // a primary demoted in a failover (READONLY, also from inside a script), a replica still loading
  // or cut off from its primary, a script or cluster busy for a moment: all pass
  // (a Redis error reply begins with its code; from inside a script it follows "-" in the message)
  return /(?:^|-)(?:READONLY|LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|BUSY|NOREPLICAS)\b/.test(err.message);
}

/** Hono `onError` handler shared by every service. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof AppError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(err.code, err.message), err.status);
  }
  // Hono's own HTTPException (e.g. body limit) carries a status; keep it, hide the rest.
  const status = (err as { status?: number }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return c.json(errorBody("bad_request", err.message || "bad request"), status as ContentfulStatusCode);
  }
  if (isDependencyUnavailable(err)) {
    log.warn("dependency unavailable", { err: { name: err.name, message: err.message }, path: c.req.path, method: c.req.method });
    c.header("Retry-After", "2");
    return c.json(errorBody("unavailable", "the service is briefly unavailable; retry shortly"), 503);
  }
  log.error("unhandled error", { err: { name: err.name, message: err.message }, path: c.req.path, method: c.req.method });
  return c.json(errorBody("internal", "internal error"), 500);
}

export function handleNotFound(c: Context): Response {
  return c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404);
}
