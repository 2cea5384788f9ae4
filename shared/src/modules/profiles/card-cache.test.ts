import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { getMemberCardsCached, updateProfile } from "./index.ts";

const sql = createDb(loadConfig().databaseUrl, { max: 2 });
afterAll(() => sql.end());

test("cached cards answer repeats without Postgres, and a profile change here shows at once", async () => {
  const [a, b] = (await seedMembers(sql, 2)) as [string, string];
  const first = await getMemberCardsCached(sql, [a, b, a]);
  expect([...first.keys()].sort()).toEqual([a, b].sort());
  // changed behind the cache's back (another process): the cached card is still served for now
  await sql`update users set display_name = 'Elsewhere' where id = ${b}`;
  expect((await getMemberCardsCached(sql, [b])).get(b)!.displayName).not.toBe("Elsewhere");
  // changed through this process: seen at once
  await updateProfile(sql, a, { displayName: "Renamed" });
  expect((await getMemberCardsCached(sql, [a])).get(a)!.displayName).toBe("Renamed");
});
