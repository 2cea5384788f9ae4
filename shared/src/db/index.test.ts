import { expect, test } from "bun:test";
import { createDb, createMessageWriteDb } from "./index.ts";

async function planCacheMode(sql: ReturnType<typeof createDb>): Promise<string> {
  const [row] = (await sql`select current_setting('plan_cache_mode') as mode, current_setting('application_name') as app`) as unknown as [{ mode: string; app: string }];
  return `${row.mode} ${row.app}`;
}

test("the message writer's connection plans its statements once; the ordinary pool keeps Postgres' choice", async () => {
  const writer = createMessageWriteDb(process.env.DATABASE_URL!, "chat-test");
  const pool = createDb(process.env.DATABASE_URL!, { max: 1, appName: "chat-test" });
  try {
    expect(await planCacheMode(writer)).toBe("force_generic_plan chat-test-writer");
    expect(await planCacheMode(pool)).toBe("auto chat-test");
  } finally {
    await Promise.all([writer.end(), pool.end()]);
  }
});

test("a read-only Postgres (a demoted primary) is not ready to write, and its refusals are 'unavailable', not errors", async () => {
  const { checkPostgresWritable } = await import("./index.ts");
  const { isDependencyUnavailable } = await import("../errors/index.ts");
  const readOnly = createDb(process.env.DATABASE_URL!, { max: 1, appName: "read-only-test" });
  const writable = createDb(process.env.DATABASE_URL!, { max: 1, appName: "writable-test" });
  try {
    await readOnly`set default_transaction_read_only = on`;
    expect(await checkPostgresWritable(readOnly).then(() => "ready", (e: Error) => e.message)).toBe("Postgres is read-only");
    expect(await checkPostgresWritable(writable).then(() => "ready")).toBe("ready");
    const write = await readOnly`update users set bio = bio where false`.then(() => null, (e: Error) => e);
    expect((write as { code?: string } | null)?.code).toBe("25006");
    expect(isDependencyUnavailable(write!)).toBe(true);
  } finally {
    await Promise.all([readOnly.end(), writable.end()]);
  }
});
