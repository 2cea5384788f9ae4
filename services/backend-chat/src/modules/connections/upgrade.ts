/**
 * The `/ws` route: every check happens before the upgrade (Origin allow-list, session cookie
 * through Redis, per-member socket limit, the replica's cap, drain, Redis cut off), so a refused
 * client never gets a socket.
 */
import type { Context, MiddlewareHandler } from "hono";
import { upgradeWebSocket } from "hono/bun";
import { errorBody } from "@xplicit/shared/errors";
import { isAllowedOrigin } from "@xplicit/shared/http";
import { createLogger } from "@xplicit/shared/log";
import { readCookie } from "@xplicit/shared/sessions";
import type { ChatEnv } from "../../deps.ts";
import { Connection } from "./connection.ts";
import type { Hub } from "./hub.ts";

const log = createLogger("upgrade");

/** What keeps a replica from taking sockets for a while. */
export interface UpgradeGate {
  isDraining(): boolean;
  /** no pub/sub round trip for a while: nothing can be delivered, stored nor confirmed here */
  isCutOff(): boolean;
}

export function checkUpgrade(hub: Hub, gate: UpgradeGate): MiddlewareHandler<ChatEnv> {
  const { config, sessions } = hub.deps;
  return async (c, next) => {
    if (gate.isDraining()) return c.json(errorBody("draining", "this replica is draining; connect to another"), 503, { "Retry-After": "1" });
    if (gate.isCutOff()) return c.json(errorBody("unavailable", "this replica cannot reach Redis; connect to another"), 503, { "Retry-After": "2" });
    if (hub.isFull()) return replicaFull(c, hub);
    if ((c.req.header("upgrade") ?? "").toLowerCase() !== "websocket") {
      return c.json(errorBody("upgrade_required", "this path only takes WebSocket upgrades"), 426);
    }
    if (!isAllowedOrigin(c.req.header("origin"), config.publicOrigins)) {
      log.info("upgrade refused", { reason: "origin" });
      return c.json(errorBody("bad_origin", "missing or foreign Origin"), 403);
    }
    const token = readCookie(c.req.header("cookie"), config.session.cookieName);
    const session = token ? await sessions.verify(token) : null;
    if (!session || !token) {
      log.info("upgrade refused", { reason: "session" });
      return c.json(errorBody("unauthenticated", "a valid session is required"), 403);
    }
    if (hub.socketsOf(session.userId) >= config.chat.maxSocketsPerMember) {
      return c.json(errorBody("too_many_sockets", "too many open connections for this member"), 429);
    }
    // (checked again: other upgrades may have filled the replica while this one's session was read)
    if (hub.isFull()) return replicaFull(c, hub);
    c.set("session", { userId: session.userId, sessionId: session.sessionId, token });
    await next();
  };
}

let lastFullLog = 0;

function replicaFull(c: Context<ChatEnv>, hub: Hub): Response {
  // (once a second at most: a reconnect storm against a full replica is thousands of refusals)
  if (Date.now() - lastFullLog >= 1000) {
    lastFullLog = Date.now();
    log.warn("upgrade refused", { reason: "replica_full", sockets: hub.all.size, maxSockets: hub.maxSockets });
  }
  return c.json(errorBody("replica_full", "this replica holds all the connections it can; connect to another"), 503, { "Retry-After": "1" });
}

/** Hono's Bun upgrade helper; the socket's data carries our Connection. */
export function upgradeToConnection(hub: Hub) {
  return upgradeWebSocket((c) => {
    const conn = new Connection(hub, (c as unknown as { get(k: "session"): ChatEnv["Variables"]["session"] }).get("session"));
    // Only `conn` is carried: the lean handler in websocket-handler.ts reaches it directly, with no
    // per-frame allocations and no per-socket closures.
    return { conn } as never;
  });
}
