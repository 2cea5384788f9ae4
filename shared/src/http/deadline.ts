/**
 * An answer within `ms`, whatever the request waits on: a Postgres that is frozen (stopped, or its
 * host gone silent with the connection still open) never answers, and its statement timeout is the
 * server's own, so nothing ends the wait — the api answered 40 s later, when Postgres ran again.
 * Past the deadline the request is answered 503 `unavailable` (clients retry); the work it started
 * finishes or fails on its own.
 */
import type { Context, MiddlewareHandler } from "hono";
import { AppError } from "../errors/index.ts";

/** `msFor`: the deadline of this request (0: none). */
export function requestDeadline(msFor: (c: Context) => number): MiddlewareHandler {
  return async (c, next) => {
    const ms = msFor(c);
    if (ms <= 0) return next();
    let timer: Timer | undefined;
    const late = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new AppError(503, "unavailable", "the service is briefly unavailable; retry shortly", { "Retry-After": "2" })), ms);
    });
    try {
      await Promise.race([next(), late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
