import type { MiddlewareHandler } from "hono";
import { forbidden } from "../errors/index.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function isAllowedOrigin(origin: string | null | undefined, allowed: readonly string[]): boolean {
  return !!origin && allowed.includes(origin);
}

/**
 * CSRF defence: a state-changing request must come from one of our own origins, and a request
 * with a body must declare JSON (a cross-site form cannot send `application/json` without CORS).
 * Routes that accept other bodies (media uploads) list their content types in `allowBodyTypes`.
 */
export function requireSameOrigin(allowed: readonly string[], allowBodyTypes: readonly string[] = []): MiddlewareHandler {
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    if (!isAllowedOrigin(c.req.header("origin"), allowed)) {
      throw forbidden("bad_origin", "missing or foreign Origin header");
    }
    const length = c.req.header("content-length");
    const hasBody = (length !== undefined && length !== "0") || c.req.header("transfer-encoding") !== undefined;
    if (hasBody) {
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/json" && !allowBodyTypes.includes(type)) {
        throw forbidden("bad_content_type", "request bodies must be application/json");
      }
    }
    return next();
  };
}
