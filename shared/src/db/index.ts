/**
 * postgres.js pool. Queries are tagged templates, so every value is a bound parameter.
 */
import postgres from "postgres";

export type Sql = postgres.Sql<Record<string, never>>;
export type { TransactionSql } from "postgres";

export interface DbOptions {
  max?: number;
  appName?: string;
  /**
   * Plan every prepared statement once (`plan_cache_mode = force_generic_plan`). For a connection
   * that runs one hot statement whose array parameters make Postgres re-plan it on every run.
   */
  genericPlans?: boolean;
}

export function createDb(url: string, opts: DbOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 5,
    // Reconnect attempts while Postgres is away: every 1–2 s (the library's default grows to 20 s,
    // so a replica went on failing for that long after Postgres was back).
    backoff: (retries: number) => Math.min(0.5 * retries, 1) + Math.random(),
    onnotice: () => {},
    connection: { application_name: opts.appName ?? "xplicit", ...(opts.genericPlans ? { plan_cache_mode: "force_generic_plan" } : {}) },
    transform: { undefined: null },
  }) as unknown as Sql;
}

/**
 * The connection of the group-committed message writer: one, since it writes one batch at a time,
 * with generic plans — re-planning the batch INSERT (unnest arrays into a table hash-partitioned
 * 16 ways) for every batch was about a quarter of Postgres' CPU per message.
 */
export function createMessageWriteDb(url: string, appName: string): Sql {
  return createDb(url, { max: 1, appName: `${appName}-writer`, genericPlans: true });
}

export { migrate, type MigrationResult } from "./migrate.ts";
