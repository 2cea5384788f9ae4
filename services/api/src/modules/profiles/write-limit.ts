/** A fixed-window cap on a member's writes (one Redis round trip: INCR, PEXPIRE NX, PTTL). */
import { tooManyRequests } from "@xplicit/shared/errors";
import type { Redis } from "@xplicit/shared/redis";

export interface WriteLimit {
  /** Counts one write; throws 429 with Retry-After once the member is over the cap. */
  take(userId: string): Promise<void>;
}

export function createWriteLimit(redis: Redis, keyPrefix: string, max: number, windowMs: number): WriteLimit {
  return {
    async take(userId) {
      const key = `${keyPrefix}${userId}`;
      const res = await redis.multi().incr(key).pexpire(key, windowMs, "NX").pttl(key).exec();
      const count = Number(res?.[0]?.[1] ?? 0);
      if (count > max) {
        const ttl = Number(res?.[2]?.[1] ?? windowMs);
        throw tooManyRequests((ttl > 0 ? ttl : windowMs) / 1000, "too many reactions; try again later");
      }
    },
  };
}
