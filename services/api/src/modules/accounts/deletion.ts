/**
 * A member deleting their account. Their sessions end first (their sockets close and nothing more
 * is written in their name), they leave their groups as a leave does (the others are told), their
 * messages go from every conversation — those they left before included —, then the account row, and with it by cascade their
 * profile, follows, blocks, reactions, settings, notifications and memberships. Their event stream
 * and counters leave Redis. An operator who sent broadcasts keeps the account (the broadcasts name
 * it): 409.
 */
import { conflict } from "@xplicit/shared/errors";
import { createLogger } from "@xplicit/shared/log";
import { WRITE_DEADLINE_MS, announceMembershipChange, leaveConversation } from "@xplicit/shared/modules/messages";
import { forgetMemberCard } from "@xplicit/shared/modules/profiles";
import type { ApiDeps } from "../../deps.ts";

const log = createLogger("accounts");

/** Conversations per statement when the member's messages are deleted. */
const CONVERSATIONS_PER_DELETE = 500;
/**
 * A send accepted before the sessions ended can still be written for this long (the message
 * writer's deadline): the messages are deleted once more after it, and the stream forgotten again.
 */
const LATE_SENDS_MS = WRITE_DEADLINE_MS + 1_000;

async function deleteMessagesOf(deps: ApiDeps, userId: string, conversationIds: string[]): Promise<void> {
  for (let start = 0; start < conversationIds.length; start += CONVERSATIONS_PER_DELETE) {
    // (messages has no index on the sender: big groups make this slower than the pool's statement
    // timeout, and a deletion that always times out could never be done)
    await deps.sql.begin(async (tx) => {
      await tx`set local statement_timeout = 0`;
      await tx`
        delete from messages
        where conversation_id = any(${conversationIds.slice(start, start + CONVERSATIONS_PER_DELETE)}::bigint[]) and sender_id = ${userId}`;
    });
  }
}

async function forgetRedisState(deps: ApiDeps, userId: string): Promise<void> {
  const k = deps.keys;
  await Promise.all([deps.events.forget(userId), deps.redis.del(k.unread(userId), k.recentNotifications(userId), k.presence(userId), k.online(userId))]);
}

export async function deleteAccount(deps: ApiDeps, userId: string): Promise<void> {
  await deps.sessions.revokeAll(userId);
  const conversations = await deps.sql<{ id: string; kind: "direct" | "group" }[]>`
    select c.id, c.kind from conversation_members m, conversations c
    where m.user_id = ${userId} and c.id = m.conversation_id`;
  for (const c of conversations) {
    if (c.kind === "group") await leaveConversation(deps.messaging, c.id, userId, { accountDeleted: true });
  }
  const left = await deps.sql<{ conversation_id: string }[]>`select conversation_id from conversation_departures where user_id = ${userId}`;
  const ids = [...new Set([...conversations.map((c) => c.id), ...left.map((l) => l.conversation_id)])];
  await deleteMessagesOf(deps, userId, ids);
  try {
    await deps.sql`delete from users where id = ${userId}`;
  } catch (err) {
    if ((err as { code?: string }).code === "23503") throw conflict("account_in_use", "an operator account that sent broadcasts cannot be deleted here");
    throw err;
  }
  forgetMemberCard(userId);
  const direct = conversations.filter((c) => c.kind === "direct");
  await Promise.all(
    direct.map((c) => announceMembershipChange(deps.redis, deps.keys, { conversationId: c.id, members: [userId] }).catch(() => {})),
  );
  await forgetRedisState(deps, userId).catch((err: Error) => log.warn("a deleted member's Redis keys were left to expire", { userId, error: err.message }));
  // sends accepted before the sessions ended and written since (the memberships are gone now: no more can be)
  setTimeout(() => {
    void deleteMessagesOf(deps, userId, ids)
      .then(() => forgetRedisState(deps, userId))
      .catch((err: Error) => log.warn("a deleted member's late messages were not deleted", { userId, error: err.message }));
  }, LATE_SENDS_MS);
}
