/**
 * Brute-force brake: failed logins are counted per account and per IP in Redis over a window.
 * Past either limit, login answers 429 with the seconds left before the window resets.
 *
 * Every attempt is counted as a failure *before* its password is checked, in one atomic step, and
 * given back when it succeeds: checking first and counting after would let a burst of parallel
 * attempts all pass the check before any of them is counted.
 */
import type { Redis, RedisKeys } from "@xplicit/shared/redis";

export interface ThrottleLimits {
  maxFailuresPerAccount: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
}

const GIVE_BACK_SCRIPT = `
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECR', KEYS[2]) end
return 1
`;

export function createLoginThrottle(redis: Redis, keys: RedisKeys, limits: ThrottleLimits) {
  /** Counts one attempt; seconds to wait (the attempt must stop with 429), or 0 when it may proceed. */
  async function begin(email: string, ip: string): Promise<number> {
    const acct = keys.loginFailAccount(email);
    const byIp = keys.loginFailIp(ip);
    const replies =
      (await redis
        .multi()
        .incr(acct)
        .expire(acct, limits.windowSeconds, "NX")
        .incr(byIp)
        .expire(byIp, limits.windowSeconds, "NX")
        .ttl(acct)
        .ttl(byIp)
        .exec()) ?? [];
    const [a = 0, , i = 0, , ta = 1, ti = 1] = replies.map(([, value]) => Number(value ?? 0));
    const blockedAcct = a > limits.maxFailuresPerAccount ? Math.max(1, ta) : 0;
    const blockedIp = i > limits.maxFailuresPerIp ? Math.max(1, ti) : 0;
    return Math.max(blockedAcct, blockedIp);
  }

  /**
   * The attempt succeeded: the account starts afresh and the IP gets its attempt back — only while
   * its window lasts (a DECR on an expired key would create a counter at -1 that never expires).
   */
  async function recordSuccess(email: string, ip: string): Promise<void> {
    await redis.eval(GIVE_BACK_SCRIPT, 2, keys.loginFailAccount(email), keys.loginFailIp(ip));
  }

  return { begin, recordSuccess };
}
