/** Conversations, history, read markers and the HTTP send (the WebSocket's fallback). */
import { Hono } from "hono";
import { badRequest, notFound } from "@xplicit/shared/errors";
import { createWriteLimit, parsePage, readJsonObject } from "@xplicit/shared/http";
import { findMemberIdByHandle, findMemberIdsByHandles } from "@xplicit/shared/modules/profiles";
import * as messages from "@xplicit/shared/modules/messages";
import { hasBlocked } from "@xplicit/shared/modules/social";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember } from "../../session/middleware.ts";

/** Per member, every api process together: 30 sends/s on average, with room for a burst. */
export const HTTP_SENDS_PER_10S = 300;
/** New conversations per member: enough to set up a large group fan-out, not to spam strangers. */
export const NEW_CONVERSATIONS_PER_10MIN = 120;
/**
 * Conversation list reads per member, every api process together: a list costs one index probe per
 * conversation the member is in, so a member in thousands of them (strangers can add anyone to a
 * group) reading in a loop could take a core (measured: 20,000 conversations, 90–190 ms a read).
 */
export const CONVERSATION_LISTS_PER_10S = 100;

export function messagesRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);
  const sends = createWriteLimit(deps.redis, deps.keys, "send", HTTP_SENDS_PER_10S, 10_000, "messages");
  const newConversations = createWriteLimit(deps.redis, deps.keys, "conversation", NEW_CONVERSATIONS_PER_10MIN, 600_000, "new conversations");
  const lists = createWriteLimit(deps.redis, deps.keys, "conversation-list", CONVERSATION_LISTS_PER_10S, 10_000, "conversation list reads");
  // the unread count costs what a list costs (an index probe per conversation), so it has the same budget
  const unreadCounts = createWriteLimit(deps.redis, deps.keys, "conversation-unread", CONVERSATION_LISTS_PER_10S, 10_000, "unread count reads");

  app.get("/conversations", auth, async (c) => {
    await lists.take(c.get("member").userId);
    const before = c.req.query("before") || null;
    if (before !== null && !messages.isConversationCursor(before)) throw badRequest("invalid_cursor", "before is not a cursor this list gave");
    const limit = parsePage(undefined, c.req.query("limit"), 100, 50).limit;
    return c.json(await messages.listConversations(deps.messaging, c.get("member").userId, { before, limit }));
  });

  app.get("/conversations/unread-count", auth, async (c) => {
    await unreadCounts.take(c.get("member").userId);
    return c.json({ unread: await messages.unreadConversationCount(deps.messaging, c.get("member").userId) });
  });

  app.get("/conversations/:id", auth, async (c) => {
    const conversationId = messages.parseId(c.req.param("id"), "conversation id");
    const me = c.get("member").userId;
    const page = await messages.listConversations(deps.messaging, me, { only: conversationId, limit: 1 });
    const conversation = page.conversations[0];
    if (!conversation) throw notFound("no such conversation, or you are not in it");
    // a conversation of two with someone the member blocked cannot be written to: the page says why
    // (whether the other blocked the member is theirs to know, not the member's)
    const peer = conversation.kind === "direct" ? conversation.members.find((m) => m.id !== me) : undefined;
    const youBlocked = peer ? await hasBlocked(deps.sql, me, peer.id) : false;
    return c.json({ conversation: { ...conversation, youBlocked } });
  });

  app.post("/conversations", auth, async (c) => {
    await newConversations.take(c.get("member").userId);
    const body = await readJsonObject(c);
    const handles = body.handles;
    if (!Array.isArray(handles) || handles.length === 0 || handles.length >= messages.MAX_GROUP_MEMBERS || !handles.every((h) => typeof h === "string")) {
      throw badRequest("invalid", `handles must be 1 to ${messages.MAX_GROUP_MEMBERS - 1} member handles`);
    }
    const title = body.title === undefined ? "" : body.title;
    if (typeof title !== "string") throw badRequest("invalid", "title must be a string");
    const me = c.get("member").userId;
    const found = await findMemberIdsByHandles(deps.sql, handles as string[]);
    const ids = (handles as string[]).map((h) => {
      const id = found.get(h);
      if (!id) throw notFound(`no member @${h.slice(0, 30)}`);
      return id;
    });
    const conv = await messages.createConversation(deps.messaging, me, ids, title.trim());
    return c.json({ conversation: conv }, conv.created ? 201 : 200);
  });

  app.get("/conversations/:id/messages", auth, async (c) => {
    const conversationId = messages.parseId(c.req.param("id"), "conversation id");
    const page = parsePage(c.req.query("before"), c.req.query("limit"), 100, 50);
    return c.json(await messages.listMessages(deps.messaging, c.get("member").userId, conversationId, page.cursor, page.limit));
  });

  app.post("/conversations/:id/leave", auth, async (c) => {
    const conversationId = messages.parseId(c.req.param("id"), "conversation id");
    if (!(await messages.leaveConversation(deps.messaging, conversationId, c.get("member").userId))) {
      throw notFound("no such conversation, or you are not in it");
    }
    return c.json({ ok: true });
  });

  app.post("/conversations/:id/read", auth, async (c) => {
    const conversationId = messages.parseId(c.req.param("id"), "conversation id");
    const body = await readJsonObject(c);
    await messages.markRead(deps.messaging, c.get("member").userId, conversationId, messages.parseId(body.upToMessageId, "upToMessageId"));
    return c.json({ ok: true });
  });

  app.post("/messages", auth, async (c) => {
    await sends.take(c.get("member").userId);
    const input = messages.parseSendInput(await readJsonObject(c), deps.config.chat.maxBodyChars);
    const { answer } = await messages.sendMessage(deps.messaging, c.get("member").userId, input);
    return c.json({ type: "sent", ...answer });
  });

  return app;
}
