/**
 * What one member's messages may put into other members' streams, per process, counted in bytes
 * of body times recipients. Every message is copied into each recipient's replay log in Redis:
 * without a bound, one member writing long messages to groups of 49 strangers filled a 2 GB Redis
 * in about 20 seconds (abuse probe 5), and with it every write of the site. The per-socket and
 * per-member frame budgets count messages, not what a message costs the others.
 */
import { tooManyRequests } from "../../errors/index.ts";
import { fullBucket, secondsUntil, takeTokens, type BucketState } from "../../limits/index.ts";

export interface FanoutBudgetOptions {
  bytesPerSecond: number;
  burstBytes: number;
}

/** Members tracked at once; past it the map starts over (every member then starts with a full bucket). */
const MAX_MEMBERS = 100_000;

export function createFanoutBudget(opts: FanoutBudgetOptions) {
  const buckets = new Map<string, BucketState>();
  return {
    /** Charges a message of `bodyBytes` to `recipients` others, or throws 429 saying when to resend. */
    charge(memberId: string, bodyBytes: number, recipients: number): void {
      // (a message larger than the whole burst still goes, alone, once the bucket is full)
      const cost = Math.min(bodyBytes * recipients, opts.burstBytes);
      if (cost === 0) return;
      let bucket = buckets.get(memberId);
      if (!bucket) {
        if (buckets.size >= MAX_MEMBERS) buckets.clear();
        buckets.set(memberId, (bucket = fullBucket(opts.burstBytes)));
      }
      if (!takeTokens(bucket, opts.bytesPerSecond, opts.burstBytes, cost)) {
        throw tooManyRequests(secondsUntil(bucket, opts.bytesPerSecond, cost), "your messages are reaching many members too fast; resend this one later");
      }
    },
  };
}

export type FanoutBudget = ReturnType<typeof createFanoutBudget>;
