/**
 * Every statement the notifications module runs on `notifications`, captured as it is sent and
 * then EXPLAINed against a 1,000,000-row table spread over every partition: none may be a
 * sequential scan.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import type { Sql } from "@xplicit/shared/db";
import { loadConfig } from "@xplicit/shared/config";
import { bucketStart, countUnread, groupKey, insertBatch, listForMember, listPartitions, markRead } from "@xplicit/shared/modules/notifications";
import { insertSingle, upsertGrouped } from "../../shared/src/modules/notifications/store.ts";

const ROWS = 1_000_000;
const RECIPIENTS = 2_000;
const captured: { query: string; params: unknown[] }[] = [];
let capturing = false;
const url = loadConfig().databaseUrl;
const sql = postgres(url, {
  max: 1,
  onnotice: () => {},
  debug: (_conn, query, params) => {
    if (capturing && /notifications/.test(query)) captured.push({ query, params: [...params] });
  },
}) as unknown as Sql;

beforeAll(async () => {
  const months = (await listPartitions(sql)).map((n) => n.match(/^notifications_(\d{4})_(\d{2})$/)).filter((m) => m !== null);
  expect(months.length).toBeGreaterThan(1);
  const starts = months.map((m) => Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  const lo = new Date(Math.min(...starts));
  const last = new Date(Math.max(...starts));
  const hi = new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth() + 1, 1) - 1000);
  // 1M rows over every month the partitions cover, 500 per recipient, a third unread
  await sql`
    insert into notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at, read_at)
    select 1000000 + (g % ${RECIPIENTS}), 'post', 1, g, 'bulk:' || g,
           ${lo}::timestamptz + ((${hi}::timestamptz - ${lo}::timestamptz) * (g::float8 / ${ROWS})),
           case when g % 3 = 0 then null else now() end
    from generate_series(1, ${ROWS}::int) as g`;
  await sql`analyze notifications`;
}, 180_000);
afterAll(() => sql.end());

function seqScans(plan: unknown): string[] {
  const found: string[] = [];
  const walk = (node: Record<string, unknown>) => {
    if (node["Node Type"] === "Seq Scan" && String(node["Relation Name"]).startsWith("notifications")) found.push(String(node["Relation Name"]));
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk((plan as { Plan: Record<string, unknown> }[])[0]!.Plan);
  return found;
}

test("no statement of the module is a sequential scan on notifications at 1M rows", async () => {
  const me = "1000007";
  const now = new Date();
  const bucket = bucketStart(now.getTime(), 3600);
  capturing = true;
  const page = await listForMember(sql, me, { beforeSeq: null, limit: 21, type: null });
  await listForMember(sql, me, { beforeSeq: page.at(-1)!.seq, limit: 21, type: null });
  await listForMember(sql, me, { beforeSeq: null, limit: 21, type: "follow" });
  await countUnread(sql, [me, "1000008"]);
  await markRead(sql, me, { ids: [page[0]!.id, page[1]!.id] });
  await markRead(sql, me, { upTo: page[5]!.id });
  await markRead(sql, me, { upTo: page[5]!.id }); // now read: found by the second lookup
  await markRead(sql, me, { type: "message", subjectId: "7" });
  await markRead(sql, me, { upToSeq: page[3]!.seq });
  await insertBatch(sql, { userIds: [me, "1000009"], type: "post", actorId: "1", subjectId: "9", dedupeKey: "post:9", occurredAt: now });
  await insertSingle(sql, { userId: me, type: "broadcast", actorId: null, subjectId: "1", dedupeKey: "broadcast:1", occurredAt: now });
  const g = { userId: me, type: "follow" as const, actorId: "5", subjectId: me, groupKey: groupKey("follow", me, bucket), eventKey: "follow:5", bucketStart: bucket, occurredAt: now };
  await upsertGrouped(sql, g);
  await upsertGrouped(sql, { ...g, actorId: "6", eventKey: "follow:6" });
  capturing = false;

  expect(captured.length).toBeGreaterThanOrEqual(10);
  // the detector itself: a query no index serves is flagged
  const [control] = await sql.unsafe("explain (format json) select id from notifications where subject_id = $1", ["5"]);
  expect(seqScans((control as Record<string, unknown>)["QUERY PLAN"]).length).toBeGreaterThan(0);
  for (const { query, params } of captured) {
    const [row] = await sql.unsafe(`explain (format json) ${query}`, params as never[]);
    const plan = (row as Record<string, unknown>)["QUERY PLAN"];
    expect({ query: query.replace(/\s+/g, " ").trim(), seqScans: seqScans(plan) }).toEqual({ query: query.replace(/\s+/g, " ").trim(), seqScans: [] });
  }
}, 120_000);
