/**
 * Per-connection frame rate limit: `rate` tokens per second, up to `burst` saved. The state lives
 * in the connection's own fields (two numbers) rather than in an object per socket.
 */
export interface BucketState {
  tokens: number;
  tokensAt: number;
}

/** Takes one token if there is one. */
export function takeToken(s: BucketState, rate: number, burst: number): boolean {
  const now = performance.now();
  s.tokens = Math.min(burst, s.tokens + ((now - s.tokensAt) / 1000) * rate);
  s.tokensAt = now;
  if (s.tokens < 1) return false;
  s.tokens -= 1;
  return true;
}
