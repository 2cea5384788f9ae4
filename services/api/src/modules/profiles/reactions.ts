/** PUT/DELETE /api/users/:handle/reaction: one reaction per member per profile. */
import { Hono, type Context } from "hono";
import { badRequest, forbidden, notFound } from "@xplicit/shared/errors";
import { createWriteLimit, readJsonObject } from "@xplicit/shared/http";
import { createLogger } from "@xplicit/shared/log";
import {
  REACTIONS, findMemberIdByHandle, isReaction, reactionCounts, removeReaction, setReaction, type Reaction,
} from "@xplicit/shared/modules/profiles";
import { hasBlocked, isBlockedEitherWay } from "@xplicit/shared/modules/social";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";

const log = createLogger("profiles");

/** Reaction writes (set or remove) per member per minute. */
export const REACTION_WRITES_PER_MINUTE = 30;
const MAX_BODY_BYTES = 1024;

export type OnReact = (actorId: string, ownerId: string, reaction: Reaction) => Promise<void>;

export function reactionRoutes(deps: ApiDeps, onReact: OnReact | undefined) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);
  const limit = createWriteLimit(deps.redis, deps.keys, "reaction", REACTION_WRITES_PER_MINUTE, 60_000, "reactions");

  /** [me, owner]; 404 for an unknown handle or an owner who blocked me, 400 for myself. */
  async function target(c: Context<ApiEnv>): Promise<[string, string]> {
    const me = c.get("member").userId;
    const owner = await findMemberIdByHandle(deps.sql, c.req.param("handle") ?? "");
    if (!owner) throw notFound("no such member");
    if (owner === me) throw badRequest("self", "you cannot react to your own profile");
    return [me, owner];
  }

  app.put("/users/:handle/reaction", auth, async (c) => {
    await limit.take(c.get("member").userId);
    const body = await readJsonObject(c, MAX_BODY_BYTES);
    const reaction = body.reaction;
    if (!isReaction(reaction)) throw badRequest("invalid_reaction", `reaction must be one of: ${REACTIONS.join(", ")}`);
    const [me, owner] = await target(c);
    if (await isBlockedEitherWay(deps.sql, me, owner)) {
      // The profile is hidden from a member its owner blocked (as on the read); blocking them yourself is a 403.
      if (await hasBlocked(deps.sql, owner, me)) throw notFound("no such member");
      throw forbidden("blocked", "you cannot react to a member you blocked");
    }
    if (await setReaction(deps.sql, owner, me, reaction)) {
      log.debug("reaction set", { profileId: owner, actorId: me, reaction });
      await onReact?.(me, owner, reaction);
    }
    return c.json({ reaction, counts: await reactionCounts(deps.sql, owner) });
  });

  app.delete("/users/:handle/reaction", auth, async (c) => {
    await limit.take(c.get("member").userId);
    const [me, owner] = await target(c);
    if (await hasBlocked(deps.sql, owner, me)) throw notFound("no such member");
    if (await removeReaction(deps.sql, owner, me)) log.debug("reaction removed", { profileId: owner, actorId: me });
    return c.json({ counts: await reactionCounts(deps.sql, owner) });
  });

  return app;
}
