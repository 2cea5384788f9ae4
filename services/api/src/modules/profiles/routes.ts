/** Public profiles and editing one's own. */
import { Hono } from "hono";
import { badRequest, notFound } from "@xplicit/shared/errors";
import { readJsonObject } from "@xplicit/shared/http";
import { findPublicProfile, updateProfile } from "@xplicit/shared/modules/profiles";
import { hasBlocked } from "@xplicit/shared/modules/social";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";

function optionalText(body: Record<string, unknown>, field: string, max: number): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.length > max) throw badRequest(`invalid_${field}`, `${field} must be a string of at most ${max} characters`);
  return v.trim();
}

export interface ProfileHooks {
  /** A member looked at someone else's profile (e.g. to notify them); never awaited by the read. */
  onView?: (viewerId: string, ownerId: string) => Promise<void>;
}

export function profilesRoutes(deps: ApiDeps, hooks: ProfileHooks = {}) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);

  app.get("/users/:handle", auth, async (c) => {
    const profile = await findPublicProfile(deps.sql, c.req.param("handle"));
    const viewer = c.get("member").userId;
    if (!profile || (await hasBlocked(deps.sql, profile.id, viewer))) throw notFound("no such member");
    if (hooks.onView && profile.id !== viewer) void hooks.onView(viewer, profile.id).catch(() => {});
    const { id: _id, ...visible } = profile;
    return c.json({ profile: visible });
  });

  app.patch("/me/profile", auth, async (c) => {
    const body = await readJsonObject(c);
    const displayName = optionalText(body, "displayName", 50);
    const bio = optionalText(body, "bio", 500);
    if (displayName === undefined && bio === undefined) throw badRequest("empty_patch", "send displayName and/or bio");
    await updateProfile(deps.sql, c.get("member").userId, { displayName, bio });
    return c.json({ ok: true });
  });

  return app;
}
