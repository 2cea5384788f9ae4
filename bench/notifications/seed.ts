/** 1M followers of one actor, and a share of them online (exact presence, as the chat tier writes it). */
import type { Sql } from "@xplicit/shared/db";
import { createUnreadCounter } from "@xplicit/shared/modules/notifications";
import { createPresence } from "@xplicit/shared/modules/presence";
import type { Redis, RedisKeys } from "@xplicit/shared/redis";

export async function seedFollowers(sql: Sql, count: number): Promise<{ actorId: string; followerIds: string[] }> {
  await sql`
    insert into users (email, handle, password_hash, birth_date, display_name, terms_accepted_at)
    select 'b' || g || '@bench.test', 'b' || g, 'x', date '1990-01-01', 'Bench ' || g, now()
    from generate_series(0, ${count}::int) as g`;
  const ids = (await sql<{ id: string }[]>`select id from users order by id`).map((r) => r.id);
  const [actorId, ...followerIds] = ids as [string, ...string[]];
  await sql`insert into follows (follower_id, followee_id) select id, ${actorId} from users where id <> ${actorId} order by id`;
  await sql`analyze users`;
  await sql`analyze follows`;
  return { actorId, followerIds };
}

/**
 * Every `every`-th follower gets an open client on a fake replica, for as long as the run lasts,
 * written by the presence module exactly as a chat replica writes it.
 */
export async function markOnline(redis: Redis, keys: RedisKeys, ids: readonly string[], every: number): Promise<string[]> {
  const online = ids.filter((_, i) => i % every === 0);
  const presence = createPresence({ redis, keys, ttlSeconds: 3600 });
  await presence.refresh("bench-replica", online);
  return online;
}

/**
 * The unread counters of the online members, cached as a chat replica leaves them when a member
 * connects (it warms the counter then, so a fan-out never counts in Postgres for an online member).
 */
export async function warmOnlineCounters(sql: Sql, redis: Redis, keys: RedisKeys, online: readonly string[]): Promise<void> {
  const unread = createUnreadCounter({ sql, redis, keys });
  for (let i = 0; i < online.length; i += 5000) await unread.get(online.slice(i, i + 5000));
}

/** Between runs: no rows, no counters, no event streams. */
export async function resetNotifications(sql: Sql, redis: Redis, prefix: string): Promise<void> {
  await sql`truncate notifications`;
  for (const pattern of [`${prefix}notif:*`, `${prefix}ev:*`]) {
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 5000);
      if (found.length) await redis.unlink(...found);
      cursor = next;
    } while (cursor !== "0");
  }
  await sql`checkpoint`;
}
