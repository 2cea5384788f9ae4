/**
 * Token buckets kept in their owner's own fields (two numbers), not in an object per socket or
 * member: `rate` tokens per second, up to `burst` saved.
 */
export interface BucketState {
  tokens: number;
  tokensAt: number;
}

/** A full bucket, as a new socket or member starts with. */
export function fullBucket(burst: number): BucketState {
  return { tokens: burst, tokensAt: performance.now() };
}

/** Takes `cost` tokens if there are that many; takes nothing otherwise. */
export function takeTokens(s: BucketState, rate: number, burst: number, cost = 1): boolean {
  const now = performance.now();
  s.tokens = Math.min(burst, s.tokens + ((now - s.tokensAt) / 1000) * rate);
  s.tokensAt = now;
  if (s.tokens < cost) return false;
  s.tokens -= cost;
  return true;
}

/** Seconds until `cost` tokens will be there. */
export function secondsUntil(s: BucketState, rate: number, cost: number): number {
  return Math.max(0, (cost - s.tokens) / rate);
}
