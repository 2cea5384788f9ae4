/**
 * How many members one member's actions may notify in an hour (follows, profile views, reactions,
 * messages to members with no open client; counted by distinct recipient): a script following,
 * viewing or messaging thousands of members an hour gets its follows, views and messages, but only
 * the first members are notified. Repeats towards a member already
 * counted are free, so ordinary use — and a load test's follow/unfollow churn over a pool — never
 * meets the limit.
 */
import type { Redis, RedisKeys } from "../../redis/index.ts";

export const REACH_PER_HOUR = 300;

/**
 * KEYS[1] the actor's set for this hour; ARGV: limit, TTL s, then the recipients. For each, 1 when
 * it may be notified (already reached, or room is left), else 0: one call for a message's offline
 * recipients, however many.
 */
const REACH_SCRIPT = `
local out = {}
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then
    out[#out + 1] = 1
  elseif redis.call('SCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('SADD', KEYS[1], ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return out
`;

export interface NotificationReach {
  /** Those of `recipientIds` the actor may notify now (each counted against the hour's reach). */
  allowed(actorId: string, recipientIds: readonly string[]): Promise<string[]>;
}

export function createNotificationReach(redis: Redis, keys: RedisKeys, perHour = REACH_PER_HOUR): NotificationReach {
  return {
    async allowed(actorId, recipientIds) {
      if (recipientIds.length === 0) return [];
      const hour = Math.floor(Date.now() / 3_600_000);
      const flags = (await redis.eval(REACH_SCRIPT, 1, keys.notificationReach(actorId, hour), perHour, 7200, ...recipientIds)) as number[];
      return recipientIds.filter((_, i) => flags[i] === 1);
    },
  };
}
