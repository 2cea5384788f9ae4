import type { Config } from "@xplicit/shared/config";
import { createDb, createMessageWriteDb, type Sql } from "@xplicit/shared/db";
import { createEventStream, type EventStream } from "@xplicit/shared/modules/events";
import { createFanoutBudget, followMembershipChanges, type MessagingDeps } from "@xplicit/shared/modules/messages";
import { createPresence, type Presence } from "@xplicit/shared/modules/presence";
import { createRedisConnections, type Redis, type RedisKeys, redisKeys } from "@xplicit/shared/redis";
import { createSessionMemo, createSessionStore, sessionRevokedChannel, type SessionStore } from "@xplicit/shared/sessions";

/** Everything a module needs from the outside world, built once by `createApiDeps`. */
export interface ApiDeps {
  config: Config;
  sql: Sql;
  redis: Redis;
  /** pub/sub connection (session revocations; long-poll) */
  subscriber: () => Redis;
  keys: RedisKeys;
  sessions: SessionStore;
  events: EventStream;
  presence: Presence;
  messaging: MessagingDeps;
  close(): Promise<void>;
}

export interface Member {
  userId: string;
  sessionId: string;
}

/** Hono environment shared by every api module. */
export interface ApiEnv {
  Variables: { member: Member };
}

export function createApiDeps(config: Config, name = "api"): ApiDeps {
  const sql = createDb(config.databaseUrl, { max: config.databasePoolSize, appName: name, statementTimeoutMs: config.databaseStatementTimeoutMs });
  const writeSql = createMessageWriteDb(config.databaseUrl, name, config.databaseStatementTimeoutMs);
  const conns = createRedisConnections(config.redisUrl, name, { autoPipelining: config.redisAutoPipelining });
  const redis = conns.command;
  const keys = redisKeys(config.redisPrefix);
  const events = createEventStream({ redis, keys, maxEvents: config.chat.replayMaxEvents, maxAgeSeconds: config.chat.replayMaxAgeSeconds, maxBytes: config.chat.replayMaxBytes });
  const presence = createPresence({ redis, keys });
  const memo = config.session.memoMs > 0
    ? createSessionMemo({ ttlMs: config.session.memoMs, subscriber: conns.subscriber(), channel: sessionRevokedChannel(keys) })
    : undefined;
  const messaging: MessagingDeps = {
    sql,
    writeSql,
    redis,
    keys,
    events,
    maxBodyChars: config.chat.maxBodyChars,
    answerTtlSeconds: config.chat.sendAnswerTtlSeconds,
    fanoutBudget: createFanoutBudget({ bytesPerSecond: config.chat.fanoutBytesPerSecond, burstBytes: config.chat.fanoutBurstBytes }),
  };
  // the send path's membership cache hears of members leaving groups and of blocks at once
  followMembershipChanges(messaging, conns.subscriber()).catch(() => {});
  return {
    config,
    sql,
    redis,
    subscriber: () => conns.subscriber(),
    keys,
    sessions: createSessionStore({ sql, redis, keys, ...config.session, memo }),
    events,
    presence,
    messaging,
    async close() {
      await conns.close();
      await sql.end({ timeout: 5 });
      await writeSql.end({ timeout: 5 });
    },
  };
}
