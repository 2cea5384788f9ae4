/**
 * Applies numbered `.sql` files (`001_name.sql`, …) in order, each in its own transaction, and
 * records them in `schema_migrations`. A session-level advisory lock makes concurrent runs from
 * several processes safe: the second waits, then finds nothing left to do.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Sql } from "./index.ts";

const LOCK_KEY = 7_300_110_001; // arbitrary, constant: "xplicit migrations"
export const MIGRATIONS_DIR = new URL("../../migrations", import.meta.url).pathname;

export interface MigrationResult {
  applied: string[];
  skipped: number;
}

interface MigrationFile {
  version: number;
  name: string;
  path: string;
}

async function listMigrations(dir: string): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f));
  const found = files.map((f) => ({ version: Number.parseInt(f, 10), name: f, path: join(dir, f) }));
  found.sort((a, b) => a.version - b.version);
  const versions = new Set<number>();
  for (const m of found) {
    if (versions.has(m.version)) throw new Error(`two migrations share version ${m.version}`);
    versions.add(m.version);
  }
  return found;
}

export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const migrations = await listMigrations(dir);
  const reserved = await sql.reserve();
  try {
    // A migration (an index on a big table) and the wait for another process' migrations may
    // outrun the pool's statement timeout; RESET gives the connection its own setting back.
    await reserved`set statement_timeout = 0`;
    await reserved`select pg_advisory_lock(${LOCK_KEY})`;
    await reserved`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`;
    const done = new Set((await reserved<{ version: number }[]>`select version from schema_migrations`).map((r) => r.version));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      const text = await Bun.file(m.path).text();
      await reserved.unsafe("begin");
      try {
        await reserved.unsafe(text);
        await reserved`insert into schema_migrations (version, name) values (${m.version}, ${m.name})`;
        await reserved.unsafe("commit");
      } catch (err) {
        await reserved.unsafe("rollback");
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return { applied, skipped: migrations.length - applied.length };
  } finally {
    await reserved`select pg_advisory_unlock(${LOCK_KEY})`.catch(() => {});
    await reserved`reset statement_timeout`.catch(() => {});
    reserved.release();
  }
}
