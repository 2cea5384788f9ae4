/** Who sees whose presence, against real Postgres: engagement, blocks, and more partners than a list holds. */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { block } from "../social/index.ts";
import { presenceAudience, presenceAudienceAmong, presenceBetween, visiblePresences, visiblePresencesAmong } from "./partners.ts";

const sql = createDb(loadConfig().databaseUrl, { max: 2 });
afterAll(() => sql.end());

/** Direct conversations between `me` and each of `others`; who has engaged in them as given. */
async function conversationsWith(me: string, others: readonly string[], engaged: { me: boolean; others: boolean }): Promise<void> {
  const convs = await sql<{ id: string }[]>`
    insert into conversations (kind, direct_key, created_by)
    select 'direct', least(${me}::bigint, o) || ':' || greatest(${me}::bigint, o), ${me}
    from unnest(${others as string[]}::bigint[]) as o
    returning id`;
  await sql`
    insert into conversation_members (conversation_id, user_id, engaged)
    select c, m.u, m.e
    from unnest(${convs.map((c) => c.id)}::bigint[], ${others as string[]}::bigint[]) as t(c, o),
         lateral (values (${me}::bigint, ${engaged.me}::boolean), (o, ${engaged.others}::boolean)) as m(u, e)`;
}

test("a member is seen only by those in conversations they engaged in, and sees only those who engaged with them", async () => {
  const [writer, stranger, replier] = (await seedMembers(sql, 3)) as [string, string, string];
  // the writer wrote to the stranger (who never answered) and to the replier (who answered)
  await conversationsWith(writer, [stranger], { me: true, others: false });
  await conversationsWith(writer, [replier], { me: true, others: true });

  expect(new Set((await presenceAudience(sql, writer)).ids)).toEqual(new Set([stranger, replier]));
  expect((await presenceAudience(sql, stranger)).ids).toEqual([]);
  expect((await visiblePresences(sql, writer)).ids).toEqual([replier]);
  expect((await visiblePresences(sql, stranger)).ids).toEqual([writer]);
  expect(await presenceBetween(sql, writer, stranger)).toEqual({ aSeesB: false, bSeesA: true });
  expect(await presenceBetween(sql, writer, replier)).toEqual({ aSeesB: true, bSeesA: true });
  expect(await presenceAudienceAmong(sql, stranger, [writer])).toEqual([]);
  expect(await visiblePresencesAmong(sql, writer, [stranger, replier])).toEqual([replier]);

  await block(sql, replier, writer);
  expect((await visiblePresences(sql, writer)).ids).toEqual([]);
  expect(await presenceBetween(sql, writer, replier)).toEqual({ aSeesB: false, bSeesA: false });
});

test("a member with more partners than the list holds: the list says so, and the rest are found one by one, blocks left out", async () => {
  const [me, ...others] = await seedMembers(sql, 1_003);
  const [stranger] = await seedMembers(sql, 1);
  await conversationsWith(me!, others, { me: true, others: true });
  await block(sql, others[0]!, me!);

  for (const [list, among] of [[presenceAudience, presenceAudienceAmong], [visiblePresences, visiblePresencesAmong]] as const) {
    const listed = await list(sql, me!);
    expect(listed.complete).toBe(false);
    expect(listed.ids.length).toBeLessThanOrEqual(1_000);
    const unlisted = others.filter((id) => !listed.ids.includes(id));
    expect(unlisted.length).toBeGreaterThanOrEqual(2);
    const found = await among(sql, me!, [...unlisted, stranger!]);
    expect(new Set([...listed.ids, ...found])).toEqual(new Set(others.slice(1))); // everyone but the blocker
    expect(found).not.toContain(stranger);
  }

  const [few] = await seedMembers(sql, 1);
  await conversationsWith(few!, others.slice(0, 3), { me: true, others: false });
  expect(await presenceAudience(sql, few!)).toEqual({ ids: expect.arrayContaining(others.slice(0, 3)), complete: true });
});

test("a conversation of two shut by the other's contact setting shows them neither presence nor typing, until they write in it", async () => {
  const [writer, shutter] = (await seedMembers(sql, 2)) as [string, string];
  await conversationsWith(writer, [shutter], { me: true, others: false });
  expect((await presenceAudience(sql, writer)).ids).toEqual([shutter]);
  await sql`insert into contact_policies (user_id, conversations) values (${shutter}, 'following')`;
  expect((await presenceAudience(sql, writer)).ids).toEqual([]);
  expect(await presenceAudienceAmong(sql, writer, [shutter])).toEqual([]);
  expect((await visiblePresences(sql, shutter)).ids).toEqual([]);
  expect(await visiblePresencesAmong(sql, shutter, [writer])).toEqual([]);
  // (what an unblock between them would show each other)
  expect(await presenceBetween(sql, shutter, writer)).toEqual({ aSeesB: false, bSeesA: false });
  // the shutter answers: the conversation is theirs too now
  await sql`update conversation_members set engaged = true where user_id = ${shutter}`;
  expect((await presenceAudience(sql, writer)).ids).toEqual([shutter]);
  expect((await visiblePresences(sql, shutter)).ids).toEqual([writer]);
});
