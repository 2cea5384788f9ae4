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

/** KEYS[1] the actor's set for this hour; ARGV: recipient, limit, TTL s. 1 when the recipient may be notified. */
const REACH_SCRIPT = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

export interface NotificationReach {
  allow(actorId: string, recipientId: string): Promise<boolean>;
}

export function createNotificationReach(redis: Redis, keys: RedisKeys, perHour = REACH_PER_HOUR): NotificationReach {
  return {
    async allow(actorId, recipientId) {
      const hour = Math.floor(Date.now() / 3_600_000);
      return (await redis.eval(REACH_SCRIPT, 1, keys.notificationReach(actorId, hour), recipientId, perHour, 7200)) === 1;
    },
  };
}
