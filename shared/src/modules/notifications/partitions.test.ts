/** Partition maintenance on the real table. */
import { afterAll, expect, test, setDefaultTimeout } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { dropExpiredPartitions, ensurePartitions, listPartitions, partitionFor } from "./partitions.ts";

// real Postgres, Redis and BullMQ on a shared machine: allow for slow moments
setDefaultTimeout(60_000);

const sql = createDb(loadConfig().databaseUrl, { max: 2 });
afterAll(() => sql.end());

test("partitionFor names and bounds UTC months, across a year end", () => {
  const p = partitionFor(new Date("2026-12-15T10:00:00Z"), 1);
  expect(p.name).toBe("notifications_2027_01");
  expect(p.from.toISOString()).toBe("2027-01-01T00:00:00.000Z");
  expect(p.to.toISOString()).toBe("2027-02-01T00:00:00.000Z");
  expect(partitionFor(new Date("2026-03-31T23:59:59Z"), -13).name).toBe("notifications_2025_02");
});

test("months ahead are created (once), months past the retention are dropped, the rest kept", async () => {
  const now = new Date();
  const farFuture = partitionFor(now, 8).name;
  expect(await listPartitions(sql)).not.toContain(farFuture);
  const created = await ensurePartitions(sql, now, 8);
  expect(created).toContain(farFuture);
  expect(await ensurePartitions(sql, now, 8)).toEqual([]);
  for (let i = 0; i <= 8; i++) expect(await listPartitions(sql)).toContain(partitionFor(now, i).name);

  // an old month with a row in it, and one just inside the retention
  const old = partitionFor(now, -14);
  const kept = partitionFor(now, -12);
  await ensurePartitions(sql, old.from, 0);
  await ensurePartitions(sql, kept.from, 0);
  await sql`insert into notifications (user_id, type, dedupe_key, created_at) values (1, 'post', 'old', ${old.from})`;

  const dropped = await dropExpiredPartitions(sql, now, 12);
  expect(dropped).toEqual([old.name]);
  const names = await listPartitions(sql);
  expect(names).not.toContain(old.name);
  expect(names).toContain(kept.name);
  expect(names).toContain(partitionFor(now, 0).name);
});
