/** Bulk test data straight in SQL: members and follow edges by the thousand in one statement. */
import type { Sql } from "@xplicit/shared/db";

let batch = 0;

/** Creates `n` members and returns their ids in creation order. */
export async function seedMembers(sql: Sql, n: number): Promise<string[]> {
  const tag = `${Date.now().toString(36)}${(batch++).toString(36)}${Math.random().toString(36).slice(2, 5)}`;
  const rows = await sql<{ id: string }[]>`
    insert into users (email, handle, password_hash, birth_date, display_name, terms_accepted_at)
    select 's' || ${tag} || '_' || g || '@example.test', left('s' || ${tag} || '_' || g, 30), 'x', date '1990-01-01',
           'Seed ' || g, now()
    from generate_series(1, ${n}::int) as g
    order by g
    returning id`;
  return rows.map((r) => r.id);
}

/** Every member in `followerIds` follows `followeeId` (edges in the given order). */
export async function seedFollows(sql: Sql, followeeId: string, followerIds: readonly string[]): Promise<void> {
  for (let i = 0; i < followerIds.length; i += 20_000) {
    await sql`
      insert into follows (follower_id, followee_id)
      select f, ${followeeId} from unnest(${followerIds.slice(i, i + 20_000) as string[]}::bigint[]) with ordinality as t(f, o)
      order by o`;
  }
}

export async function notificationCount(sql: Sql, userIds: readonly string[], type?: string): Promise<number> {
  const [r] = await sql<{ n: number }[]>`
    select count(*)::int as n from notifications
    where user_id = any(${userIds as string[]}::bigint[]) ${type ? sql`and type = ${type}::notification_type` : sql``}`;
  return r?.n ?? 0;
}
