/**
 * `npm start`: checks that Postgres and Redis answer, runs migrations, then starts the api.
 * (The full local topology — nginx, chat replicas, worker — is added as those pieces land.)
 */
import { spawn } from "bun";
import { loadConfigOrExit } from "@xplicit/shared/config";
import { createDb, migrate } from "@xplicit/shared/db";
import Redis from "ioredis";

const config = loadConfigOrExit();

/** A fresh machine has the server but not our database: create it. */
async function ensureDatabase(): Promise<void> {
  const url = new URL(config.databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) return;
  url.pathname = "/postgres";
  const admin = createDb(url.toString(), { max: 1, appName: "start" });
  try {
    const [row] = await admin`select 1 as one from pg_database where datname = ${name}`;
    if (!row) {
      await admin.unsafe(`create database ${name}`);
      console.log(`[start] created database ${name}`);
    }
  } catch {
    // Reported with a clear message by checkPostgres below.
  } finally {
    await admin.end({ timeout: 1 }).catch(() => {});
  }
}

async function checkPostgres(): Promise<void> {
  await ensureDatabase();
  const sql = createDb(config.databaseUrl, { max: 1, appName: "start" });
  try {
    await sql`select 1`;
    const result = await migrate(sql);
    console.log(`[start] postgres ok, migrations applied: ${result.applied.length}`);
  } catch (err) {
    console.error(`[start] PostgreSQL is not reachable at DATABASE_URL=${config.databaseUrl.replace(/\/\/[^@]*@/, "//***@")}: ${(err as Error).message}`);
    console.error("        Start it (e.g. pg_ctlcluster <version> main start) or set DATABASE_URL to a reachable server; the database must exist (createdb xplicit).");
    process.exit(1);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

async function checkRedis(): Promise<void> {
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
    console.log("[start] redis ok");
  } catch (err) {
    console.error(`[start] Redis is not reachable at REDIS_URL=${config.redisUrl}: ${(err as Error).message}`);
    console.error("        Start it (e.g. redis-server --daemonize yes) or set REDIS_URL to a reachable server.");
    process.exit(1);
  } finally {
    redis.disconnect();
  }
}

await checkPostgres();
await checkRedis();

const api = spawn(["bun", "services/api/src/main.ts"], {
  env: { ...process.env, MIGRATE_ON_START: "false" },
  stdout: "inherit",
  stderr: "inherit",
});
console.log(`[start] api on http://${config.host}:${config.apiPort}`);
const stop = () => api.kill("SIGTERM");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.exit(await api.exited);
