/**
 * Monthly range partitions of `notifications`: create the ones ahead, drop the ones whose whole
 * month is older than the retention. Run by the worker's repeatable `partitions` job (and once at
 * worker start); safe to run concurrently and repeatedly.
 */
import type { Sql } from "../../db/index.ts";

export interface PartitionBounds {
  name: string;
  from: Date;
  to: Date;
}

function monthStart(year: number, month: number): Date {
  return new Date(Date.UTC(year, month, 1));
}

export function partitionFor(at: Date, offsetMonths = 0): PartitionBounds {
  const from = monthStart(at.getUTCFullYear(), at.getUTCMonth() + offsetMonths);
  const to = monthStart(from.getUTCFullYear(), from.getUTCMonth() + 1);
  const name = `notifications_${from.getUTCFullYear()}_${String(from.getUTCMonth() + 1).padStart(2, "0")}`;
  return { name, from, to };
}

/** Partition names come from dates only, never from input; still, refuse anything unexpected. */
function assertName(name: string): string {
  if (!/^notifications_\d{4}_\d{2}$/.test(name)) throw new Error(`unexpected partition name ${name}`);
  return name;
}

export async function listPartitions(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent
    where p.relname = 'notifications'
    order by c.relname`;
  return rows.map((r) => r.name);
}

/** Creates this month's partition and the next `ahead` ones; returns the names created. */
export async function ensurePartitions(sql: Sql, now: Date, ahead: number): Promise<string[]> {
  const existing = new Set(await listPartitions(sql));
  const created: string[] = [];
  for (let i = 0; i <= ahead; i++) {
    const p = partitionFor(now, i);
    if (existing.has(p.name)) continue;
    // DDL cannot take bind parameters; the name and bounds are derived from dates above.
    await sql.unsafe(
      `create table if not exists ${assertName(p.name)} partition of notifications for values from ('${p.from.toISOString()}') to ('${p.to.toISOString()}')`,
    );
    created.push(p.name);
  }
  return created;
}

/** Drops partitions whose month ended more than `retentionMonths` months before `now`'s month. */
export async function dropExpiredPartitions(sql: Sql, now: Date, retentionMonths: number): Promise<string[]> {
  const oldestKept = partitionFor(now, -retentionMonths).name;
  const dropped: string[] = [];
  for (const name of await listPartitions(sql)) {
    if (!/^notifications_\d{4}_\d{2}$/.test(name) || name >= oldestKept) continue;
    await sql.unsafe(`drop table if exists ${assertName(name)}`);
    dropped.push(name);
  }
  return dropped;
}
