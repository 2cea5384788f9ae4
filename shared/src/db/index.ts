/**
 * postgres.js pool. Queries are tagged templates, so every value is a bound parameter.
 */
import postgres from "postgres";

export type Sql = postgres.Sql<Record<string, never>>;
export type { TransactionSql } from "postgres";

export interface DbOptions {
  max?: number;
  appName?: string;
}

export function createDb(url: string, opts: DbOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 5,
    onnotice: () => {},
    connection: { application_name: opts.appName ?? "xplicit" },
    transform: { undefined: null },
  }) as unknown as Sql;
}

export { migrate, type MigrationResult } from "./migrate.ts";
