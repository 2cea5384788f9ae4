/** Presence partners against real Postgres: a member with more partners than the list holds. */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { block } from "../social/index.ts";
import { presencePartners, presencePartnersAmong } from "./partners.ts";

const sql = createDb(loadConfig().databaseUrl, { max: 2 });
afterAll(() => sql.end());

/** Conversations between `me` and each of `others` (direct ones, written as the messages module does). */
async function conversationsWith(me: string, others: readonly string[]): Promise<void> {
  const convs = await sql<{ id: string }[]>`
    insert into conversations (kind, direct_key, created_by)
    select 'direct', least(${me}::bigint, o) || ':' || greatest(${me}::bigint, o), ${me}
    from unnest(${others as string[]}::bigint[]) as o
    returning id`;
  await sql`
    insert into conversation_members (conversation_id, user_id)
    select c, u from unnest(${convs.map((c) => c.id)}::bigint[], ${others as string[]}::bigint[]) as t(c, o), lateral (values (${me}::bigint), (o)) as m(u)`;
}

test("a member with more partners than the list holds: the list says so, and the rest are found one by one, blocks left out", async () => {
  const [me, ...others] = await seedMembers(sql, 1_003);
  const [stranger] = await seedMembers(sql, 1);
  await conversationsWith(me!, others);
  await block(sql, others[0]!, me!);

  const list = await presencePartners(sql, me!);
  expect(list.complete).toBe(false);
  expect(list.ids.length).toBeLessThanOrEqual(1_000);
  const unlisted = others.filter((id) => !list.ids.includes(id));
  expect(unlisted.length).toBeGreaterThanOrEqual(2);
  const found = await presencePartnersAmong(sql, me!, [...unlisted, stranger!]);
  expect(new Set([...list.ids, ...found])).toEqual(new Set(others.slice(1))); // everyone but the blocker
  expect(found).not.toContain(stranger);

  const [few] = await seedMembers(sql, 1);
  await conversationsWith(few!, others.slice(0, 3));
  expect(await presencePartners(sql, few!)).toEqual({ ids: expect.arrayContaining(others.slice(0, 3)), complete: true });
});
