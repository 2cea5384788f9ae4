import type { Sql } from "../../db/index.ts";
import type { Redis, RedisKeys } from "../../redis/index.ts";
import type { EventStream } from "../events/index.ts";
import type { FanoutBudget } from "./fanout-budget.ts";

export interface SendInput {
  /** client-generated UUID: the idempotency key */
  id: string;
  conversationId: string;
  body: string;
  clientTs?: number;
}

/** What `send` answers; identical for every repeat of the same `id`. */
export interface SentAnswer {
  id: string;
  messageId: string;
  conversationId: string;
  ts: number;
  seq: number;
}

/** `data` of a `message` event. */
export interface MessageEventData {
  messageId: string;
  conversationId: string;
  senderId: string;
  body: string;
  ts: number;
  clientMsgId: string;
  clientTs?: number;
}

export interface MessagingDeps {
  sql: Sql;
  /** the group-committed message write's own connection (createMessageWriteDb); `sql` if absent */
  writeSql?: Sql;
  redis: Redis;
  keys: RedisKeys;
  events: EventStream;
  maxBodyChars: number;
  /**
   * Set by a chat replica, which writes the sender's own event (`SendResult.ownEvent`) to every
   * socket of the sender it holds: that event is then published only when another replica holds
   * one of the sender's sockets. Absent (the api): always published.
   */
  replicaName?: string;
  /** how long a send's answer is kept for its repeats (CHAT_SEND_ANSWER_TTL_SECONDS; its default if absent) */
  answerTtlSeconds?: number;
  /** What a member's messages may put into others' streams (CHAT_FANOUT_*); unbounded if absent. */
  fanoutBudget?: FanoutBudget;
  /** Recipients with no open client, e.g. to notify them; called after delivery, never awaited. */
  onOfflineRecipients?: (recipientIds: string[], message: MessageEventData) => Promise<void>;
}

export interface ConversationSummary {
  id: string;
  kind: "direct" | "group";
  title: string;
  /** lastReadMessageId: that member's read marker ("0" when none), for "Seen" receipts. */
  members: { id: string; handle: string; displayName: string; lastReadMessageId: string }[];
  lastMessage: { id: string; senderId: string; body: string; ts: number } | null;
  lastReadMessageId: string;
  createdAt: string;
}

export interface StoredMessage {
  id: string;
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
  ts: number;
}
