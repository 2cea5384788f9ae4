import type { Config } from "@xplicit/shared/config";
import type { Sql } from "@xplicit/shared/db";
import type { EventStream } from "@xplicit/shared/modules/events";
import type { MessagingDeps } from "@xplicit/shared/modules/messages";
import type { UnreadCounter } from "@xplicit/shared/modules/notifications";
import type { Presence } from "@xplicit/shared/modules/presence";
import type { Redis, RedisKeys } from "@xplicit/shared/redis";
import type { SessionStore } from "@xplicit/shared/sessions";

export interface ChatDeps {
  config: Config;
  sql: Sql;
  redis: Redis;
  /** dedicated pub/sub connection (a subscribed connection cannot run commands) */
  subscriber: Redis;
  keys: RedisKeys;
  sessions: SessionStore;
  events: EventStream;
  presence: Presence;
  /** warmed when a member connects, so a notification fan-out finds their badge count cached */
  unread: UnreadCounter;
  messaging: MessagingDeps;
}

export interface UpgradeSession {
  userId: string;
  sessionId: string;
  token: string;
}

export interface ChatEnv {
  Variables: { session: UpgradeSession };
}
