/**
 * "X messaged you" notifications waiting for the worker, one per (recipient, conversation). The
 * first message to a member with no open client enqueues a job; the ones after it, until the
 * worker takes them, only count in Redis, and the job writes them all at once. Before, every
 * message made a job per offline recipient: one member writing 50 one-character messages a second
 * to a group of strangers made thousands of jobs a second, far more than the worker drains, and
 * everyone's notifications fell minutes behind while Redis filled with waiting jobs.
 *
 * Each count belongs to the job it made (a token in the hash, in the job's data): a job takes only
 * its own count, so one whose count expired meanwhile cannot take the next job's.
 */
import type { Redis, RedisKeys } from "../../redis/index.ts";

/**
 * A waiting count lives this long at most: should its job be lost (Redis lost it, or it failed for
 * good), the next message after that starts a new one. Longer than any job waits.
 */
const PENDING_TTL_SECONDS = 3600;

/**
 * ARGV: TTL, the sender, then (pending key, a new token) pairs. Counts the message in each key and
 * keeps the sender as the latest one; where the key is new it belongs to the token given, which is
 * returned (a job must be enqueued with it), else "".
 */
const COUNT_SCRIPT = `
local out = {}
for i = 3, #ARGV, 2 do
  local n = redis.call('HINCRBY', ARGV[i], 'n', 1)
  redis.call('HSET', ARGV[i], 'latest', ARGV[2])
  if n == 1 then
    redis.call('HSET', ARGV[i], 'job', ARGV[i + 1])
    redis.call('EXPIRE', ARGV[i], ARGV[1])
    out[#out + 1] = ARGV[i + 1]
  else
    out[#out + 1] = ''
  end
end
return out
`;

/**
 * KEYS: a pending key, where its taken count is kept; ARGV: a job's token, TTL. The count and latest
 * sender if the key is that job's (then it is gone, and the taken count kept: a job killed before
 * it saved what it took finds it again), else what that job took before, if anything.
 */
const TAKE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return redis.call('HMGET', KEYS[2], 'n', 'latest') end
local v = redis.call('HMGET', KEYS[1], 'n', 'latest')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'n', v[1], 'latest', v[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return v
`;

/**
 * KEYS: pending keys; ARGV: a token for each. Deletes each count that still belongs to its token
 * and holds only the message that began it: a count begun by an attempt whose job was never
 * enqueued (or whose outcome is unknown) would otherwise take every later message in for an hour,
 * with no job to write them. One that others' messages joined meanwhile is left (an hour at most):
 * deleting it would drop theirs.
 */
const RELEASE_SCRIPT = `
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'job') == ARGV[i] and redis.call('HGET', KEYS[i], 'n') == '1' then redis.call('DEL', KEYS[i]) end
end
return 0
`;

export interface PendingMessages {
  /**
   * Counts a message for these recipients; those whose count is new, each with the token its job
   * must carry. When Redis does not answer (the count may still run later), the counts this call
   * would have begun are released and it throws.
   */
  count(recipientIds: readonly string[], conversationId: string, senderId: string): Promise<{ recipientId: string; token: string }[]>;
  /** The job with this token could not be enqueued: its count goes, so the next message starts a new one. */
  abandon(recipientId: string, conversationId: string, token: string): Promise<void>;
  /** Takes the messages counted for the job with this token (at least the one that made it) and their latest sender. */
  take(recipientId: string, conversationId: string, token: string): Promise<{ messages: number; latestSender: string | null }>;
}

export function createPendingMessages(redis: Redis, keys: RedisKeys): PendingMessages {
  const key = (recipientId: string, conversationId: string) => keys.pendingMessageNotification(recipientId, conversationId);
  return {
    async count(recipientIds, conversationId, senderId) {
      if (recipientIds.length === 0) return [];
      const pendingKeys = recipientIds.map((r) => key(r, conversationId));
      const offered = recipientIds.map(() => crypto.randomUUID());
      let tokens: string[];
      try {
        tokens = (await redis.eval(COUNT_SCRIPT, 0, PENDING_TTL_SECONDS, senderId, ...pendingKeys.flatMap((k, i) => [k, offered[i]!]))) as string[];
      } catch (err) {
        // (sent on the same connection, so Redis runs it after the count, should that still run)
        await redis.eval(RELEASE_SCRIPT, pendingKeys.length, ...pendingKeys, ...offered).catch(() => {});
        throw err;
      }
      return recipientIds.flatMap((recipientId, i) => (tokens[i] ? [{ recipientId, token: tokens[i]! }] : []));
    },
    async abandon(recipientId, conversationId, token) {
      await redis.eval(RELEASE_SCRIPT, 1, key(recipientId, conversationId), token);
    },
    async take(recipientId, conversationId, token) {
      const pending = key(recipientId, conversationId);
      const [n, latest] = (await redis.eval(TAKE_SCRIPT, 2, pending, `${pending}:taken:${token}`, token, PENDING_TTL_SECONDS)) as [string | null, string | null];
      return { messages: Math.max(1, Number(n ?? 1)), latestSender: latest };
    },
  };
}
