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
