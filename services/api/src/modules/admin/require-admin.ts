/**
 * Operator endpoints need both: a member whose role is admin, and (behind nginx) a verified
 * client certificate. Either missing is a 403, and every refusal is audited.
 */
import type { MiddlewareHandler } from "hono";
import { forbidden } from "@xplicit/shared/errors";
import { clientCertificate, clientCertificateRequired } from "@xplicit/shared/http";
import { createLogger } from "@xplicit/shared/log";
import type { ApiDeps, ApiEnv } from "../../deps.ts";

const log = createLogger("admin");

export function requireAdmin(deps: ApiDeps): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const me = c.get("member").userId;
    const cert = clientCertificate(c, deps.config.trustedProxies);
    if (!cert.verified) {
      log.audit("admin refused", { userId: me, reason: "no_client_certificate", path: c.req.path });
      throw clientCertificateRequired();
    }
    const [row] = await deps.sql<{ role: string }[]>`select role from users where id = ${me}`;
    if (row?.role !== "admin") {
      log.audit("admin refused", { userId: me, reason: "not_admin", path: c.req.path });
      throw forbidden("not_admin", "operators only");
    }
    await next();
  };
}
