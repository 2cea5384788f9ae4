/** Public profiles (with their reactions), editing one's own, and reacting to others'. */
import { Hono } from "hono";
import { badRequest, notFound } from "@xplicit/shared/errors";
import { characterCount, hasBidiControls, hasControlCharacters, hasStackedMarks, hasVisibleText, isStorableText, MAX_MARKS_IN_A_ROW, readJsonObject } from "@xplicit/shared/http";
import { findProfileForViewer, ownProfileText, staffLookalike, updateProfile } from "@xplicit/shared/modules/profiles";
import { followCountsOf, relationOf } from "@xplicit/shared/modules/social";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";
import { reactionRoutes, type OnReact } from "./reactions.ts";

/** UTF-16 units a stored character may take on average, bounding what `max` characters can weigh. */
const UNITS_PER_CHARACTER = 4;

function optionalText(body: Record<string, unknown>, field: string, max: number, required = false): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  const tooLong = () => badRequest(`invalid_${field}`, `${field} must be a string of at most ${max} characters`);
  if (typeof v !== "string" || v.length > max * UNITS_PER_CHARACTER) throw tooLong();
  if (!isStorableText(v)) throw badRequest(`invalid_${field}`, `${field} must not contain NUL or broken Unicode`);
  const text = v.trim();
  // counted as members count them: a name of 30 emoji is 30 characters, not 60
  if (characterCount(text) > max) throw tooLong();
  // a name of zero-width spaces saved "fine" and showed as nothing
  if (required && !hasVisibleText(text)) throw badRequest(`invalid_${field}`, `${field} must have at least one visible character`);
  return text;
}

/**
 * Rules newer than some stored profiles (look-alikes of the staff, stacked marks) judge only what
 * an edit changes: the settings page sends both fields, and a member whose old name breaks a
 * newer rule must still be able to change their bio.
 */
async function refuseNewlyUnfit(deps: ApiDeps, userId: string, edit: { displayName?: string; bio?: string }): Promise<void> {
  const stored = await ownProfileText(deps.sql, userId);
  for (const field of ["displayName", "bio"] as const) {
    const value = edit[field];
    if (value === undefined || value === stored[field]) continue;
    if (hasStackedMarks(value)) {
      throw badRequest(`invalid_${field}`, `${field} must not stack more than ${MAX_MARKS_IN_A_ROW} accents or marks in a row`);
    }
    // terminal escapes and bells reached partners verbatim; a name is one line, a bio keeps its breaks
    if (hasControlCharacters(value) || (field === "displayName" && /[\t\n\r]/.test(value))) {
      throw badRequest(`invalid_${field}`, field === "displayName" ? "displayName must not contain control characters or line breaks" : "bio must not contain control characters (other than tab and line breaks)");
    }
    if (field === "bio" && hasBidiControls(value)) throw badRequest("invalid_bio", "bio must not contain text-direction control characters");
  }
  const lookalike = edit.displayName !== undefined && edit.displayName !== stored.displayName ? staffLookalike(edit.displayName) : null;
  if (lookalike) throw badRequest("displayName_reserved", `displayName must not read as the site's own accounts (it has ${lookalike})`);
}

/**
 * A visit counts when the profile was read by this site's pages (or by a client that is no
 * browser, which sends no Sec-Fetch-Site): a link on another site that navigates a member's
 * browser to the api carries their Lax cookie, and would name them to whoever placed it.
 */
function openedFromThisSite(fetchSite: string | undefined): boolean {
  return fetchSite === undefined || fetchSite === "same-origin";
}

export interface ProfileHooks {
  /** A member looked at someone else's profile (e.g. to notify them); never awaited by the read. */
  onView?: (viewerId: string, ownerId: string) => Promise<void>;
  /** A member's reaction to someone's profile is new or changed (not a repeat, not a removal). */
  onReact?: OnReact;
}

export function profilesRoutes(deps: ApiDeps, hooks: ProfileHooks = {}) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);

  app.get("/users/:handle", auth, async (c) => {
    const viewer = c.get("member").userId;
    const profile = await findProfileForViewer(deps.sql, c.req.param("handle"), viewer);
    if (!profile) throw notFound("no such member");
    const own = profile.id === viewer;
    const [relation, counts] = await Promise.all([own ? null : relationOf(deps.sql, viewer, profile.id), followCountsOf(deps.sql, profile.id)]);
    if (relation?.blockedBy) throw notFound("no such member");
    // a member one blocked is not told of one's visits: it would say who blocked them
    if (hooks.onView && relation && !relation.blocked && openedFromThisSite(c.req.header("sec-fetch-site"))) {
      void hooks.onView(viewer, profile.id).catch(() => {});
    }
    const { id: _id, ...visible } = profile;
    // what the viewer's Follow and Block buttons show (absent on one's own profile)
    const viewerState = relation ? { following: relation.following, blocked: relation.blocked, acceptsNewConversations: !relation.refusesConversations } : {};
    return c.json({ profile: { ...visible, ...counts, ...viewerState } });
  });

  app.patch("/me/profile", auth, async (c) => {
    const body = await readJsonObject(c);
    const displayName = optionalText(body, "displayName", 50, true);
    if (displayName !== undefined && hasBidiControls(displayName)) {
      throw badRequest("invalid_displayName", "displayName must not contain text-direction control characters");
    }
    const bio = optionalText(body, "bio", 500);
    if (displayName === undefined && bio === undefined) throw badRequest("empty_patch", "send displayName and/or bio");
    await refuseNewlyUnfit(deps, c.get("member").userId, { displayName, bio });
    await updateProfile(deps.sql, c.get("member").userId, { displayName, bio });
    return c.json({ ok: true });
  });

  app.route("/", reactionRoutes(deps, hooks.onReact));
  return app;
}
