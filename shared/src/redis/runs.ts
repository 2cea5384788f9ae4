/**
 * A Redis server that restarts may come back with older data (a snapshot, an AOF a second
 * behind, a lagging replica promoted). Values derived from Postgres and cached in Redis then lie
 * until they expire; values Redis alone holds (event streams) need a new epoch. Each Redis run
 * (its `run_id`) is told apart here, once across every process that follows the same key.
 */
import type { Redis } from "ioredis";

/** The id of the Redis server's current run (a new one at every start), or null if it hides it. */
export async function redisRunId(redis: Redis): Promise<string | null> {
  return /run_id:(\w+)/.exec(await redis.info("server"))?.[1] ?? null;
}

/**
 * KEYS: the run key. ARGV: this run's id. 1 for the first caller in a run that follows another one
 * recorded here, 0 for the rest — and for the first caller when none was recorded: data written
 * since a run was first recorded carries its key, so a Redis without it holds nothing older to
 * distrust (a new prefix, or data lost), and dropping would only race the first writes.
 */
const CLAIM_RUN_SCRIPT = `
local known = redis.call('GET', KEYS[1])
if known == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if known then return 1 end
return 0
`;

/**
 * Calls `onNewRun` once per Redis run after the first one recorded under `runKey`, in the first
 * process whose connection becomes ready in it (at start and after every reconnect each process checks). A failed `onNewRun` is not retried:
 * what it cleans up must also expire on its own.
 */
export function followRedisRuns(redis: Redis, runKey: string, onNewRun: () => Promise<void>): void {
  const check = async () => {
    const run = await redisRunId(redis);
    if (run && (await redis.eval(CLAIM_RUN_SCRIPT, 1, runKey, run)) === 1) await onNewRun();
  };
  redis.on("ready", () => void check().catch(() => {}));
  if (redis.status === "ready") void check().catch(() => {});
}

/** Deletes every key matching `pattern` (a SCAN glob), a batch at a time, without blocking Redis. */
export async function unlinkMatching(redis: Redis, pattern: string): Promise<number> {
  let cursor = "0";
  let removed = 0;
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (found.length > 0) removed += await redis.unlink(...found);
  } while (cursor !== "0");
  return removed;
}

/** `text` with SCAN's glob characters escaped, to match it literally. */
export function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
