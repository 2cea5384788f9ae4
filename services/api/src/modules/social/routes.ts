/** Follow, block, and the keyset-paginated follower lists. */
import { Hono, type Context } from "hono";
import { badRequest, forbidden, notFound } from "@xplicit/shared/errors";
import { createWriteLimit, readJsonObject } from "@xplicit/shared/http";
import { createLogger } from "@xplicit/shared/log";
import { presenceBetween } from "@xplicit/shared/modules/messages";
import { hideFromEachOther, showToEachOther } from "@xplicit/shared/modules/presence";
import { findMemberIdByHandle, getMemberCards } from "@xplicit/shared/modules/profiles";
import * as social from "@xplicit/shared/modules/social";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";
import { parsePage } from "@xplicit/shared/http";

export interface SocialHooks {
  /** Called after a new follow, e.g. to notify the followee. */
  onFollow?: (followerId: string, followeeId: string) => Promise<void>;
}

const log = createLogger("social");

/** The block is stored either way: a presence announcement that fails is logged, not the request's error. */
function announce(what: string, done: Promise<void>): Promise<void> {
  return done.catch((err: unknown) => log.warn("presence visibility announcement failed", { what, error: (err as Error).message }));
}

/** Blocks and unblocks per member: each new one is announced to every process (caches, presence). */
export const BLOCK_CHANGES_PER_MINUTE = 30;

export function socialRoutes(deps: ApiDeps, hooks: SocialHooks = {}) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);
  const blockChanges = createWriteLimit(deps.redis, deps.keys, "block", BLOCK_CHANGES_PER_MINUTE, 60_000, "blocks and unblocks");

  async function target(c: Context<ApiEnv>): Promise<string> {
    const id = await findMemberIdByHandle(deps.sql, c.req.param("handle") ?? "");
    if (!id) throw notFound("no such member");
    return id;
  }

  async function otherThanMe(c: Context<ApiEnv>): Promise<[string, string]> {
    const me = c.get("member").userId;
    const other = await target(c);
    if (other === me) throw badRequest("self", "you cannot do that to yourself");
    return [me, other];
  }

  /**
   * Whoever blocked the viewer is not there for them, on every route as on their profile (404):
   * any other answer (a 200, their follower counts) would tell who blocked whom. A change of the
   * viewer's own block (`ownBlock`) still applies: otherwise whoever blocks first could lift their
   * block later and write before the other could block them.
   */
  async function visibleOtherThanMe(c: Context<ApiEnv>, ownBlock?: (me: string, other: string) => Promise<unknown>): Promise<[string, string]> {
    const [me, other] = await otherThanMe(c);
    if (!(await social.hasBlocked(deps.sql, other, me))) return [me, other];
    await ownBlock?.(me, other);
    throw notFound("no such member");
  }

  app.post("/users/:handle/follow", auth, async (c) => {
    const [me, other] = await otherThanMe(c);
    // whoever blocked the viewer is not there for them, as on their profile (404): a distinct
    // answer would tell who blocked whom; a member the viewer blocked is refused as such
    const refuseIfBlocked = async () => {
      if (await social.hasBlocked(deps.sql, other, me)) throw notFound("no such member");
      if (await social.hasBlocked(deps.sql, me, other)) throw forbidden("blocked", "you blocked this member; unblock them first");
    };
    await refuseIfBlocked();
    const outcome = await social.follow(deps.sql, me, other);
    // a block that landed between the check and the follow
    if (outcome === "blocked") await refuseIfBlocked();
    if (outcome === "created") await hooks.onFollow?.(me, other);
    // the followee's counts as they now are: a page shows them without reading the profile again
    return c.json({ following: outcome !== "blocked", ...(await social.followCountsOf(deps.sql, other)) });
  });

  app.delete("/users/:handle/follow", auth, async (c) => {
    const [me, other] = await visibleOtherThanMe(c);
    await social.unfollow(deps.sql, me, other);
    return c.json({ following: false, ...(await social.followCountsOf(deps.sql, other)) });
  });

  app.post("/users/:handle/block", auth, async (c) => {
    await blockChanges.take(c.get("member").userId);
    const [me, other] = await visibleOtherThanMe(c, (me, other) => social.block(deps.sql, me, other));
    // who could see whom just before: only they are told the other is gone (anyone else hearing
    // "offline" about a member would learn that member blocked them)
    const before = await presenceBetween(deps.sql, me, other);
    // a repeat changes nothing and tells no one (each announcement clears caches in every process)
    if (await social.block(deps.sql, me, other)) await announce("block", hideFromEachOther(deps.redis, deps.keys, me, other, before));
    return c.json({ blocked: true });
  });

  app.delete("/users/:handle/block", auth, async (c) => {
    await blockChanges.take(c.get("member").userId);
    const [me, other] = await visibleOtherThanMe(c, (me, other) => social.unblock(deps.sql, me, other));
    if (await social.unblock(deps.sql, me, other)) {
      await announce("unblock", presenceBetween(deps.sql, me, other).then((between) => showToEachOther(deps.redis, deps.keys, me, other, between)));
    }
    return c.json({ blocked: false });
  });

  app.get("/me/contact-settings", auth, async (c) => {
    return c.json({ conversations: await social.conversationPolicyOf(deps.sql, c.get("member").userId), choices: social.CONVERSATION_POLICIES });
  });

  app.put("/me/contact-settings", auth, async (c) => {
    const body = await readJsonObject(c);
    const policy = body.conversations;
    if (typeof policy !== "string" || !(social.CONVERSATION_POLICIES as readonly string[]).includes(policy)) {
      throw badRequest("invalid", `conversations must be one of ${social.CONVERSATION_POLICIES.join(", ")}`);
    }
    await social.setConversationPolicy(deps.sql, c.get("member").userId, policy as social.ConversationPolicy);
    return c.json({ conversations: policy, choices: social.CONVERSATION_POLICIES });
  });

  for (const direction of ["followers", "following"] as const) {
    app.get(`/users/:handle/${direction}`, auth, async (c) => {
      const owner = await target(c);
      if (await social.hasBlocked(deps.sql, owner, c.get("member").userId)) throw notFound("no such member");
      const page = parsePage(c.req.query("cursor"), c.req.query("limit"));
      const edges = await social.listFollowEdges(deps.sql, owner, direction, page.cursor, page.limit + 1);
      const visible = edges.slice(0, page.limit);
      // a member with a block either way with the viewer is not listed: as on their own profile,
      // nothing shows them (or that they blocked the viewer) through someone else's lists
      const [cards, hidden] = await Promise.all([
        getMemberCards(deps.sql, visible.map((e) => e.memberId)),
        social.blockedAmong(deps.sql, c.get("member").userId, visible.map((e) => e.memberId)).then((ids) => new Set(ids)),
      ]);
      return c.json({
        items: visible.flatMap((e) => {
          const card = cards.get(e.memberId);
          return card && !hidden.has(e.memberId) ? [{ handle: card.handle, displayName: card.displayName, since: e.createdAt }] : [];
        }),
        nextCursor: edges.length > page.limit ? visible.at(-1)!.edgeId : null,
      });
    });
  }

  app.get("/me/blocks", auth, async (c) => {
    const blocked = await social.listBlocked(deps.sql, c.get("member").userId);
    const cards = await getMemberCards(deps.sql, blocked.map((b) => b.memberId));
    return c.json({
      items: blocked.flatMap((b) => {
        const card = cards.get(b.memberId);
        return card ? [{ handle: card.handle, displayName: card.displayName, since: b.createdAt }] : [];
      }),
    });
  });

  return app;
}
