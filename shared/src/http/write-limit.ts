/**
 * A fixed-window cap on one member's writes of one kind (reactions, HTTP sends, new conversations):
 * one Redis round trip (INCR, PEXPIRE NX, PTTL), shared by every api process.
 */
import { tooManyRequests } from "../errors/index.ts";
import type { Redis, RedisKeys } from "../redis/index.ts";

export interface WriteLimit {
  /** Counts one write; throws 429 with Retry-After once the member is over the cap. */
  take(userId: string): Promise<void>;
}

/** `bucket` names the counter's key (`keys.rate`); `what` the writes in the 429 message ("reactions", …). */
export function createWriteLimit(redis: Redis, keys: RedisKeys, bucket: string, max: number, windowMs: number, what: string): WriteLimit {
  return {
    async take(userId) {
      const key = keys.rate(bucket, userId);
      const res = await redis.multi().incr(key).pexpire(key, windowMs, "NX").pttl(key).exec();
      const count = Number(res?.[0]?.[1] ?? 0);
      if (count > max) {
        const ttl = Number(res?.[2]?.[1] ?? windowMs);
        throw tooManyRequests((ttl > 0 ? ttl : windowMs) / 1000, `too many ${what}; try again later`);
      }
    },
  };
}
