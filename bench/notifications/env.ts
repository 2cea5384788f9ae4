/** This benchmark's own database and Redis prefix, recreated every run and dropped at the end. */
import postgres from "postgres";
import Redis from "ioredis";

export const DB_NAME = process.env.BENCH_NOTIFICATIONS_DATABASE ?? "xplicit_bench_notifications";
export const PREFIX = process.env.BENCH_NOTIFICATIONS_PREFIX ?? "xpbn:";
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export function databaseUrl(): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DB_NAME}`;
  return url.toString();
}

async function admin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

export async function clearPrefix(): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 5000);
      if (found.length) await redis.unlink(...found);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export async function freshEnvironment(): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(DB_NAME)) throw new Error(`bad database name ${DB_NAME}`);
  await admin(async (sql) => {
    await sql.unsafe(`drop database if exists ${DB_NAME} with (force)`);
    await sql.unsafe(`create database ${DB_NAME}`);
  });
  Object.assign(process.env, { DATABASE_URL: databaseUrl(), REDIS_URL, REDIS_PREFIX: PREFIX, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" });
  const { configureLogging } = await import("@xplicit/shared/log");
  configureLogging({ level: "warn" });
  const { createDb, migrate } = await import("@xplicit/shared/db");
  const sql = createDb(databaseUrl(), { max: 1 });
  try {
    await migrate(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
  await clearPrefix();
}

export async function dropEnvironment(): Promise<void> {
  await admin((sql) => sql.unsafe(`drop database if exists ${DB_NAME} with (force)`)).catch(() => {});
  await clearPrefix().catch(() => {});
}
