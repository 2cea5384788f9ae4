import type { Context, MiddlewareHandler } from "hono";
import { unauthorized } from "@xplicit/shared/errors";
import { readCookie } from "@xplicit/shared/sessions";
import type { ApiDeps, ApiEnv, Member } from "../deps.ts";

export function sessionToken(c: Context, deps: ApiDeps): string | undefined {
  return readCookie(c.req.header("cookie"), deps.config.session.cookieName);
}

/** Resolves the session cookie to a member or answers 401. */
export function requireMember(deps: ApiDeps): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const session = await deps.sessions.verify(sessionToken(c, deps));
    if (!session) throw unauthorized();
    c.set("member", session satisfies Member);
    await next();
  };
}
