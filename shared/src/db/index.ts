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
  /**
   * Postgres cancels a statement that runs longer (0: never). Without it a request stuck behind a
   * lock or a runaway plan held its pooled connection for as long as the lock lasted, and the
   * requests behind it waited for the pool until the edge gave up on them.
   */
  statementTimeoutMs?: number;
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
    connection: {
      application_name: opts.appName ?? "xplicit",
      ...(opts.genericPlans ? { plan_cache_mode: "force_generic_plan" } : {}),
      ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs, idle_in_transaction_session_timeout: Math.max(opts.statementTimeoutMs, 10_000) } : {}),
    },
    transform: { undefined: null },
  }) as unknown as Sql;
}

/**
 * The connection of the group-committed message writer: one, since it writes one batch at a time,
 * with generic plans — re-planning the batch INSERT (unnest arrays into a table hash-partitioned
 * 16 ways) for every batch was about a quarter of Postgres' CPU per message.
 */
export function createMessageWriteDb(url: string, appName: string, statementTimeoutMs = 0): ReplaceableSql {
  return replaceable(() => createDb(url, { max: 1, appName: `${appName}-writer`, genericPlans: true, statementTimeoutMs }));
}

/** A connection that can be dropped for a new one while its users keep the same object. */
export type ReplaceableSql = Sql & {
  /**
   * Ends the current connection at once (what it runs is abandoned) and opens another. For a
   * connection stuck on a query that never settles: after Postgres killed the backend under a
   * running query, postgres.js was seen to keep that query attached, and the writer's one
   * connection answered nothing for 33–40 s (porsager/postgres#1130).
   */
  replace(): void;
};

export function isReplaceable(sql: Sql): sql is ReplaceableSql {
  return typeof (sql as Partial<ReplaceableSql>).replace === "function";
}

function replaceable(open: () => Sql): ReplaceableSql {
  let current = open();
  const replace = () => {
    const old = current;
    current = open();
    void old.end({ timeout: 0 }).catch(() => {});
  };
  // Calls (tagged templates, helpers) and properties (begin, end, unsafe, …) go to the current one.
  return new Proxy(function replaceableSql() {} as unknown as ReplaceableSql, {
    apply: (_target, _this, args: unknown[]) => (current as unknown as (...a: unknown[]) => unknown)(...args),
    get: (_target, prop) => (prop === "replace" ? replace : Reflect.get(current, prop)),
  });
}

export { migrate, type MigrationResult } from "./migrate.ts";
export { whenPostgresIsReachable } from "./when-reachable.ts";

/**
 * Readiness of a connection that writes: it reaches Postgres and Postgres takes writes. A demoted
 * primary still answers `select 1` while refusing every write (read-only), which a readiness check
 * that only reads would call ready.
 */
export async function checkPostgresWritable(sql: Sql): Promise<void> {
  const [row] = await sql<{ read_only: string }[]>`select current_setting('transaction_read_only') as read_only`;
  if (row?.read_only !== "off") throw new Error("Postgres is read-only");
}
