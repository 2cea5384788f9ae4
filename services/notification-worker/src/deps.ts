/** What the worker's jobs need, built once per process. */
import type { Config } from "@xplicit/shared/config";
import { createDb, type Sql } from "@xplicit/shared/db";
import { createEventStream, type EventStream } from "@xplicit/shared/modules/events";
import { createPendingMessages, createUnreadCounter, type PendingMessages, type UnreadCounter } from "@xplicit/shared/modules/notifications";
import { createPresence, type Presence } from "@xplicit/shared/modules/presence";
import { createRedis, redisKeys, type Redis, type RedisKeys } from "@xplicit/shared/redis";

export interface WorkerDeps {
  config: Config;
  sql: Sql;
  redis: Redis;
  keys: RedisKeys;
  events: EventStream;
  presence: Presence;
  unread: UnreadCounter;
  pendingMessages: PendingMessages;
  groupWindowSeconds: number;
  close(): Promise<void>;
}

export function createWorkerDeps(config: Config, name = "notification-worker"): WorkerDeps {
  const sql = createDb(config.databaseUrl, { max: config.databasePoolSize, appName: name, statementTimeoutMs: config.databaseStatementTimeoutMs });
  const redis = createRedis(config.redisUrl, name);
  const keys = redisKeys(config.redisPrefix);
  return {
    config,
    sql,
    redis,
    keys,
    events: createEventStream({ redis, keys, maxEvents: config.chat.replayMaxEvents, maxAgeSeconds: config.chat.replayMaxAgeSeconds, maxBytes: config.chat.replayMaxBytes }),
    presence: createPresence({ redis, keys }),
    unread: createUnreadCounter({ sql, redis, keys }),
    pendingMessages: createPendingMessages(redis, keys),
    groupWindowSeconds: config.notifications.groupWindowSeconds,
    async close() {
      await Promise.allSettled([redis.quit(), sql.end({ timeout: 5 })]);
    },
  };
}
