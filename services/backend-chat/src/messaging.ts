import type { Config } from "@xplicit/shared/config";
import type { Sql } from "@xplicit/shared/db";
import type { EventStream } from "@xplicit/shared/modules/events";
import { createFanoutBudget, type MessagingDeps } from "@xplicit/shared/modules/messages";
import { createNotificationReach, createNotifier, createPendingMessages, notifyOfflineRecipients } from "@xplicit/shared/modules/notifications";
import type { Redis, RedisKeys } from "@xplicit/shared/redis";

/** The message write path's dependencies as the chat tier provides them. */
export function createMessaging(d: { config: Config; sql: Sql; writeSql: Sql; redis: Redis; keys: RedisKeys; events: EventStream }): MessagingDeps {
  return {
    sql: d.sql,
    writeSql: d.writeSql,
    redis: d.redis,
    keys: d.keys,
    events: d.events,
    maxBodyChars: d.config.chat.maxBodyChars,
    replicaName: d.config.chat.replicaName,
    answerTtlSeconds: d.config.chat.sendAnswerTtlSeconds,
    fanoutBudget: createFanoutBudget({ bytesPerSecond: d.config.chat.fanoutBytesPerSecond, burstBytes: d.config.chat.fanoutBurstBytes }),
    onOfflineRecipients: notifyOfflineRecipients({
      notifier: createNotifier({ redis: d.redis, prefix: d.keys.bullPrefix() }),
      reach: createNotificationReach(d.redis, d.keys),
      pending: createPendingMessages(d.redis, d.keys),
    }),
  };
}
