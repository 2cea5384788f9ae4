/**
 * Runs before any test file: gives this `bun test` run its own Postgres database and its own
 * Redis key prefix, so runs never see each other's data (and a dev stack can stay up), then
 * drops both at the end.
 */
import { afterAll } from "bun:test";
import postgres from "postgres";
import Redis from "ioredis";

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const dbName = `xplicit_test_${runId}`;
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
try {
  await admin.unsafe(`create database ${dbName}`);
} catch (err) {
  process.stderr.write(`cannot create the test database on ${adminUrl.replace(/\/\/[^@]*@/, "//")}: ${(err as Error).message}\n` +
    "Start PostgreSQL or set TEST_DATABASE_ADMIN_URL to a server where this user may create databases.\n");
  process.exit(1);
}
const url = new URL(adminUrl);
url.pathname = `/${dbName}`;

process.env.NODE_ENV = "test";
process.env.DATABASE_URL = url.toString();
process.env.REDIS_URL = redisUrl;
process.env.REDIS_PREFIX = `xpt:${runId}:`;
process.env.LOG_LEVEL ??= "silent";
const { configureLogging } = await import("@xplicit/shared/log");
configureLogging({ level: process.env.LOG_LEVEL as "silent" });

const { createDb, migrate } = await import("@xplicit/shared/db");
const sql = createDb(process.env.DATABASE_URL, { max: 1, appName: "test-migrate" });
await migrate(sql);
await sql.end();

afterAll(async () => {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", `${process.env.REDIS_PREFIX}*`, "COUNT", 1000);
      if (found.length) await redis.unlink(...found);
      cursor = next;
    } while (cursor !== "0");
  } catch {}
  redis.disconnect();
  await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
  await admin.end();
});
