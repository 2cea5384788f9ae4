/**
 * The benchmarks' own Postgres database and Redis key prefix, so a run never collides with the
 * tests (xplicit_test_*), a dev stack (xplicit, xp:) or another engineer's benchmark.
 * The database is recreated at the start of every run so each run starts from the same state.
 */
import postgres from "postgres";
import Redis from "ioredis";

export const BENCH_DB = process.env.BENCH_DATABASE ?? "xplicit_bench";
export const BENCH_PREFIX = process.env.BENCH_REDIS_PREFIX ?? "xpbench:";
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export function benchDatabaseUrl(): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${BENCH_DB}`;
  return url.toString();
}

/** Drops and recreates the bench database, applies migrations, and clears the bench Redis prefix. */
export async function freshBenchEnvironment(): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(BENCH_DB)) throw new Error(`bad BENCH_DATABASE ${BENCH_DB}`);
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${BENCH_DB} with (force)`);
    await admin.unsafe(`create database ${BENCH_DB}`);
  } finally {
    await admin.end({ timeout: 2 });
  }
  process.env.DATABASE_URL = benchDatabaseUrl();
  process.env.REDIS_URL = REDIS_URL;
  process.env.REDIS_PREFIX = BENCH_PREFIX;
  process.env.LOG_LEVEL ??= "warn";
  const { configureLogging } = await import("@xplicit/shared/log");
  configureLogging({ level: "warn" });
  const { createDb, migrate } = await import("@xplicit/shared/db");
  const sql = createDb(benchDatabaseUrl(), { max: 1, appName: "bench-migrate" });
  try {
    await migrate(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
  await clearRedisPrefix(BENCH_PREFIX);
}

export async function clearRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 2000);
      if (found.length) await redis.unlink(...found);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** Pid of the Redis server (for CPU accounting). */
export async function redisPid(): Promise<number | null> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const info = await redis.info("server");
    const m = /process_id:(\d+)/.exec(info);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

/** Postgres processes working for the bench database, plus the shared writers (WAL, checkpoints). */
export async function postgresPids(): Promise<number[]> {
  const sql = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ pid: number }[]>`
      select pid from pg_stat_activity
      where datname = ${BENCH_DB} or backend_type in ('walwriter', 'checkpointer', 'background writer')`;
    return rows.map((r) => r.pid);
  } catch {
    return [];
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export async function dropBenchDatabase(): Promise<void> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${BENCH_DB} with (force)`);
  } catch {
  } finally {
    await admin.end({ timeout: 2 });
  }
  await clearRedisPrefix(BENCH_PREFIX).catch(() => {});
}
