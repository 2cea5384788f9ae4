/**
 * Brute-force brake: failed logins are counted per account and per IP in Redis over a window.
 * Past either limit, login answers 429 with the seconds left before the window resets.
 */
import type { Redis, RedisKeys } from "@xplicit/shared/redis";

export interface ThrottleLimits {
  maxFailuresPerAccount: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
}

export function createLoginThrottle(redis: Redis, keys: RedisKeys, limits: ThrottleLimits) {
  /** Seconds to wait, or 0 when a login attempt may proceed. */
  async function retryAfter(email: string, ip: string): Promise<number> {
    const acct = keys.loginFailAccount(email);
    const byIp = keys.loginFailIp(ip);
    const replies = (await redis.multi().get(acct).get(byIp).ttl(acct).ttl(byIp).exec()) ?? [];
    const [a, i, ta, ti] = replies.map(([, value]) => Number(value ?? 0));
    const blockedAcct = (a ?? 0) >= limits.maxFailuresPerAccount ? (ta ?? 1) : 0;
    const blockedIp = (i ?? 0) >= limits.maxFailuresPerIp ? (ti ?? 1) : 0;
    return Math.max(blockedAcct, blockedIp, 0);
  }

  async function recordFailure(email: string, ip: string): Promise<void> {
    await redis
      .multi()
      .incr(keys.loginFailAccount(email))
      .expire(keys.loginFailAccount(email), limits.windowSeconds, "NX")
      .incr(keys.loginFailIp(ip))
      .expire(keys.loginFailIp(ip), limits.windowSeconds, "NX")
      .exec();
  }

  async function recordSuccess(email: string): Promise<void> {
    await redis.del(keys.loginFailAccount(email));
  }

  return { retryAfter, recordFailure, recordSuccess };
}
