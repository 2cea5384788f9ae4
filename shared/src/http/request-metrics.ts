import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { httpDuration } from "../metrics/index.ts";

/** Duration histogram labelled by route template (not raw path: bounded cardinality). */
export function requestMetrics(): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      let route = "unmatched";
      try {
        route = routePath(c, -1) || "unmatched";
      } catch {}
      if (route === "/*" || route === "*") route = "unmatched";
      httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, (performance.now() - start) / 1000);
    }
  };
}
