/**
 * Brute-force brake: failed logins are counted per IP and, per account, per client over a window.
 * Past a limit, login answers 429 with the seconds left before the window resets.
 *
 * A stranger's failures must not lock a member out (anyone could keep any account locked by
 * sending wrong passwords): a browser the account signed in on before carries a device cookie
 * (OWASP's "device cookies") and is counted on its own; every other client shares the account's
 * counter. So an attack locks out only new browsers, and the member's own keep working.
 *
 * Every attempt is counted as a failure *before* its password is checked, in one atomic step, and
 * given back when it succeeds: checking first and counting after would let a burst of parallel
 * attempts all pass the check before any of them is counted.
 */
import { addressBudgetKey } from "@xplicit/shared/http";
import type { Redis, RedisKeys } from "@xplicit/shared/redis";

export interface ThrottleLimits {
  maxFailuresPerAccount: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
}

/** How long a browser stays known after its last sign-in. */
export const DEVICE_DAYS = 365;

const GIVE_BACK_SCRIPT = `
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECR', KEYS[2]) end
return 1
`;

/** A device cookie as stored: its SHA-256 (a Redis dump never holds a usable cookie). */
function hashOf(token: string): string {
  return new Bun.CryptoHasher("sha256").update(token).digest("hex");
}

const DEVICE_TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** Accounts one browser is remembered for (one token each, in one cookie): a shared browser keeps them all. */
const TOKENS_PER_BROWSER = 5;

/** The cookie's tokens (base64url, so "." never occurs in one), well-formed ones only. */
function tokensOf(cookie: string | undefined): string[] {
  return (cookie ?? "").split(".").filter((t) => DEVICE_TOKEN.test(t)).slice(-TOKENS_PER_BROWSER);
}

export interface KnownDevice {
  /** the SHA-256 of this browser's token for the account */
  hash: string;
  token: string;
}

export function createLoginThrottle(redis: Redis, keys: RedisKeys, limits: ThrottleLimits) {
  /** This browser's token for `email` when its cookie holds one the account signed in with before, else null. */
  async function knownDevice(cookie: string | undefined, email: string): Promise<KnownDevice | null> {
    const tokens = tokensOf(cookie);
    if (tokens.length === 0) return null;
    const hashes = tokens.map(hashOf);
    const owners = await redis.mget(...hashes.map((h) => keys.loginDevice(h)));
    const i = owners.findIndex((owner) => owner === email);
    return i < 0 ? null : { hash: hashes[i]!, token: tokens[i]! };
  }

  /** Counts one attempt; seconds to wait (the attempt must stop with 429), or 0 when it may proceed. */
  async function begin(email: string, ip: string, device: KnownDevice | null): Promise<number> {
    const acct = device ? keys.loginFailDevice(device.hash) : keys.loginFailAccount(email);
    const byIp = keys.loginFailIp(addressBudgetKey(ip));
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
   * The attempt succeeded: its counter starts afresh and the IP gets its attempt back — only while
   * its window lasts (a DECR on an expired key would create a counter at -1 that never expires).
   */
  async function recordSuccess(email: string, ip: string, device: KnownDevice | null): Promise<void> {
    const counter = device ? keys.loginFailDevice(device.hash) : keys.loginFailAccount(email);
    await redis.eval(GIVE_BACK_SCRIPT, 2, counter, keys.loginFailIp(addressBudgetKey(ip)));
  }

  /**
   * Remembers this browser for `email` after a sign-in: its token for the account when it has one
   * (its year starts again), else a new one added to the cookie's (the oldest goes beyond
   * TOKENS_PER_BROWSER). The cookie's new value.
   */
  async function rememberDevice(email: string, cookie: string | undefined, device: KnownDevice | null): Promise<string> {
    const token = device?.token ?? Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    await redis.set(keys.loginDevice(device?.hash ?? hashOf(token)), email, "EX", DEVICE_DAYS * 86_400);
    const others = tokensOf(cookie).filter((t) => t !== token);
    return [...others, token].slice(-TOKENS_PER_BROWSER).join(".");
  }

  return { knownDevice, begin, recordSuccess, rememberDevice };
}
