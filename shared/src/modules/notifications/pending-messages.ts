/**
 * "X messaged you" notifications waiting for the worker, one per (recipient, conversation). The
 * first message to a member with no open client enqueues a job; the ones after it, until the
 * worker takes them, only count in Redis, and the job writes them all at once. Before, every
 * message made a job per offline recipient: one member writing 50 one-character messages a second
 * to a group of strangers made thousands of jobs a second, far more than the worker drains, and
 * everyone's notifications fell minutes behind while Redis filled with waiting jobs.
 */
import type { Redis, RedisKeys } from "../../redis/index.ts";

/**
 * A waiting count lives this long at most: should its job be lost (Redis lost it, or it failed for
 * good), the next message after that starts a new one.
 */
const PENDING_TTL_SECONDS = 300;

/**
 * ARGV: TTL, the sender, then pending keys. Counts the message in each key and keeps the sender as
 * the latest one; 1 where the key is new (a job must be enqueued), else 0.
 */
const COUNT_SCRIPT = `
local out = {}
for i = 3, #ARGV do
  local n = redis.call('HINCRBY', ARGV[i], 'n', 1)
  redis.call('HSET', ARGV[i], 'latest', ARGV[2])
  if n == 1 then
    redis.call('EXPIRE', ARGV[i], ARGV[1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

/** KEYS[1]: a pending key. Its count and latest sender, and the key is gone. */
const TAKE_SCRIPT = `
local v = redis.call('HMGET', KEYS[1], 'n', 'latest')
redis.call('DEL', KEYS[1])
return v
`;

export interface PendingMessages {
  /** Counts a message for these recipients; those whose count is new (they need a job). */
  count(recipientIds: readonly string[], conversationId: string, senderId: string): Promise<string[]>;
  /** The job could not be enqueued: the next message starts a new count. */
  abandon(recipientId: string, conversationId: string): Promise<void>;
  /** Takes the messages counted for the recipient (at least the one that made the job) and their latest sender. */
  take(recipientId: string, conversationId: string): Promise<{ messages: number; latestSender: string | null }>;
}

export function createPendingMessages(redis: Redis, keys: RedisKeys): PendingMessages {
  const key = (recipientId: string, conversationId: string) => keys.pendingMessageNotification(recipientId, conversationId);
  return {
    async count(recipientIds, conversationId, senderId) {
      if (recipientIds.length === 0) return [];
      const fresh = (await redis.eval(COUNT_SCRIPT, 0, PENDING_TTL_SECONDS, senderId, ...recipientIds.map((r) => key(r, conversationId)))) as number[];
      return recipientIds.filter((_, i) => fresh[i] === 1);
    },
    async abandon(recipientId, conversationId) {
      await redis.del(key(recipientId, conversationId));
    },
    async take(recipientId, conversationId) {
      const [n, latest] = (await redis.eval(TAKE_SCRIPT, 1, key(recipientId, conversationId))) as [string | null, string | null];
      return { messages: Math.max(1, Number(n ?? 1)), latestSender: latest };
    },
  };
}
