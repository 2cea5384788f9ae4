/**
 * Bench members without the cost of password hashing: rows go straight into `users` (one shared
 * precomputed hash) and sessions are created with the real session store (Postgres row + Redis
 * cache), exactly what login does after the password check. Conversations are opened through
 * the api like a client would.
 */
import { createDb } from "@xplicit/shared/db";
import { createRedis, redisKeys } from "@xplicit/shared/redis";
import { createSessionStore } from "@xplicit/shared/sessions";

export const ORIGIN = "http://localhost:3000";
const COOKIE = "__Host-sid";

export interface BenchMember {
  index: number;
  id: string;
  handle: string;
  cookie: string;
}

export interface BenchConversation {
  id: string;
  members: number[];
}

export async function seedMembers(count: number, prefix = "b"): Promise<BenchMember[]> {
  const sql = createDb(process.env.DATABASE_URL!, { max: 8, appName: "bench-seed" });
  const redis = createRedis(process.env.REDIS_URL!, "bench-seed");
  const keys = redisKeys(process.env.REDIS_PREFIX!);
  const sessions = createSessionStore({ sql, redis, keys, idleSeconds: 7 * 86400, absoluteSeconds: 30 * 86400 });
  try {
    const hash = await Bun.password.hash("bench-password-not-used", { algorithm: "argon2id" });
    const handles = Array.from({ length: count }, (_, i) => `${prefix}_${i}`);
    await sql`
      insert into users (email, handle, password_hash, birth_date, terms_accepted_at)
      select h || '@bench.example', h, ${hash}, '1990-01-01', now() from unnest(${handles}::text[]) as h
      on conflict do nothing`;
    const rows = await sql<{ id: string; handle: string }[]>`select id::text, handle from users where handle = any(${handles}::text[])`;
    const idOf = new Map(rows.map((r) => [r.handle, r.id]));
    const out: BenchMember[] = new Array(count);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          const i = next++;
          const handle = handles[i]!;
          const id = idOf.get(handle)!;
          const s = await sessions.create(id, { userAgent: "bench", ip: "127.0.0.1" });
          out[i] = { index: i, id, handle, cookie: `${COOKIE}=${s.token}` };
        }
      }),
    );
    return out;
  } finally {
    await sql.end({ timeout: 2 });
    redis.disconnect();
  }
}

/** Opens conversations of `size` members (2 = 1:1 pairs) through the api; each member in one. */
export async function openConversations(apiUrl: string, members: BenchMember[], size = 2): Promise<BenchConversation[]> {
  const groups: number[][] = [];
  for (let i = 0; i + 1 < members.length; i += size) groups.push(Array.from({ length: Math.min(size, members.length - i) }, (_, k) => i + k));
  const out: BenchConversation[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < groups.length) {
        const g = groups[next++]!;
        const owner = members[g[0]!]!;
        const res = await fetch(`${apiUrl}/api/conversations`, {
          method: "POST",
          headers: { origin: ORIGIN, "content-type": "application/json", cookie: owner.cookie },
          body: JSON.stringify({ handles: g.slice(1).map((i) => members[i]!.handle) }),
        });
        const body = (await res.json()) as any;
        if (res.status !== 200 && res.status !== 201) throw new Error(`conversation: ${res.status} ${JSON.stringify(body)}`);
        out.push({ id: String(body.conversation.id), members: g });
      }
    }),
  );
  return out;
}
