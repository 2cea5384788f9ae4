import { expect, test } from "bun:test";
import { createDb, migrate } from "./index.ts";

test("migrations applied twice, and from several processes at once, are applied exactly once", async () => {
  const pools = [0, 1, 2].map(() => createDb(process.env.DATABASE_URL!, { max: 1 }));
  try {
    // The test database was migrated by the harness; these runs must find nothing to do.
    const results = await Promise.all(pools.map((sql) => migrate(sql)));
    for (const r of results) expect(r.applied).toEqual([]);
    const again = await migrate(pools[0]!);
    expect(again.applied).toEqual([]);
    const [{ n }] = (await pools[0]!`select count(*)::int as n from schema_migrations`) as unknown as [{ n: number }];
    expect(n).toBe(again.skipped);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
});

test("concurrent runs on an empty database apply each migration once", async () => {
  const admin = createDb(process.env.DATABASE_URL!, { max: 1 });
  const name = `xplicit_migr_${Date.now().toString(36)}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  const pools = [0, 1, 2].map(() => createDb(url.toString(), { max: 1 }));
  try {
    const results = await Promise.all(pools.map((sql) => migrate(sql)));
    const appliedCounts = results.map((r) => r.applied.length).sort();
    expect(appliedCounts[0]).toBe(0);
    expect(appliedCounts[1]).toBe(0);
    expect(appliedCounts[2]).toBeGreaterThan(0);
    const rows = await pools[0]!`select version from schema_migrations`;
    expect(rows.length).toBe(appliedCounts[2]!);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
