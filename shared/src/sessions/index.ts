/**
 * Cookie sessions. The cookie holds a 256-bit random id; Postgres stores only its SHA-256; Redis
 * caches the verified session so the hot check (every API call, every WebSocket upgrade) costs one
 * Redis GET and no Postgres. Revocation deletes both at once and is announced on a channel so the
 * chat tier can close the sockets that rode on the session.
 */
import type { Sql } from "../db/index.ts";
import type { Redis, RedisKeys } from "../redis/index.ts";
import type { SessionMemo } from "./memo.ts";

export interface Session {
  sessionId: string;
  userId: string;
}

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  userAgent: string;
  ip: string;
  current: boolean;
}

export interface NewSession extends Session {
  token: string;
  expiresAt: Date;
}

export interface SessionStoreOptions {
  sql: Sql;
  redis: Redis;
  keys: RedisKeys;
  idleSeconds: number;
  absoluteSeconds: number;
  /** verified sessions remembered in this process for a moment (the api's; see memo.ts) */
  memo?: SessionMemo;
}

interface CachedSession {
  sid: string;
  uid: string;
  /** absolute expiry, epoch ms */
  abs: number;
  /** last time Postgres' last_seen_at was written, epoch ms */
  seen: number;
}

export interface SessionRevokedEvent {
  userId: string;
  sessionIds: string[];
}

export function sessionRevokedChannel(keys: RedisKeys): string {
  return `${keys.prefix}ch:sessions:revoked`;
}

export function newSessionToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export function hashSessionToken(token: string): Buffer {
  return new Bun.CryptoHasher("sha256").update(token).digest() as Buffer;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Every write of a cached session. A request that read a session just before it was revoked must
 * not write it back after the revocation deleted it (it then worked for days, in no session list,
 * beyond "sign out everywhere"): a revocation leaves a tombstone first, and this script writes
 * nothing where one stands. A touch only refreshes an entry that is still there.
 * KEYS: session, tombstone, the member's session set. ARGV: entry, ttl ms, token hash, set ttl ms, "fill" | "touch".
 */
const CACHE_SESSION_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[5] == 'touch' then
  return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') and 1 or 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
`;
type WithCacheScript = { xpCacheSession(...args: (string | number)[]): Promise<number> };
/** Tokens per Redis pipeline and Postgres statement in `verifyMany`. */
const VERIFY_CHUNK = 1000;

/** A pipeline's replies, failing on the first command that failed (ioredis reports them per command). */
async function execOrThrow(p: ReturnType<Redis["pipeline"]>): Promise<void> {
  for (const [err] of (await p.exec()) ?? []) if (err) throw err;
}

export function createSessionStore(opts: SessionStoreOptions) {
  const { sql, redis, keys, idleSeconds, absoluteSeconds, memo } = opts;
  const idleMs = idleSeconds * 1000;
  // Writing last_seen_at on every request would turn each read into a Postgres write.
  const touchEveryMs = Math.min(60_000, idleMs / 2);

  redis.defineCommand("xpCacheSession", { numberOfKeys: 3, lua: CACHE_SESSION_SCRIPT });

  function cacheWrite(p: ReturnType<Redis["pipeline"]>, hex: string, entry: CachedSession, mode: "fill" | "touch", now: number): boolean {
    const ttl = Math.min(idleMs, entry.abs - now);
    if (ttl <= 0) return false;
    (p as unknown as WithCacheScript).xpCacheSession(
      keys.session(hex), keys.sessionRevoked(hex), keys.userSessions(entry.uid),
      JSON.stringify(entry), ttl, hex, absoluteSeconds * 1000, mode,
    );
    return true;
  }

  /** Caches verified sessions (token hash hex → entry), unless revoked meanwhile: one pipeline for all. */
  async function cache(entries: Iterable<[string, CachedSession]>): Promise<void> {
    const p = redis.pipeline();
    let n = 0;
    const now = Date.now();
    for (const [hex, entry] of entries) if (cacheWrite(p, hex, entry, "fill", now)) n++;
    // (a pipeline that is never exec'd was only queued here: nothing reached Redis)
    if (n > 0) await execOrThrow(p);
  }

  /**
   * Revoked sessions leave Redis, with a tombstone each until they would have ended (written
   * first: a cache write racing the revocation then finds it), in one MULTI.
   */
  async function dropFromRedis(userId: string, revoked: readonly { hex: string; expiresAt: Date }[]): Promise<void> {
    if (revoked.length === 0) return;
    const tx = redis.multi();
    const now = Date.now();
    for (const { hex, expiresAt } of revoked) tx.set(keys.sessionRevoked(hex), "1", "PX", Math.max(1000, expiresAt.getTime() - now));
    await tx
      .del(...revoked.map((r) => keys.session(r.hex)))
      .srem(keys.userSessions(userId), ...revoked.map((r) => r.hex))
      .exec();
  }

  async function announce(event: SessionRevokedEvent): Promise<void> {
    if (event.sessionIds.length === 0) return;
    memo?.forget(event.sessionIds);
    await redis.publish(sessionRevokedChannel(keys), JSON.stringify(event));
  }

  async function create(userId: string, meta: { userAgent: string; ip: string }): Promise<NewSession> {
    const token = newSessionToken();
    const hash = hashSessionToken(token);
    const expiresAt = new Date(Date.now() + absoluteSeconds * 1000);
    const [row] = await sql<{ id: string }[]>`
      insert into sessions (token_hash, user_id, expires_at, user_agent, ip)
      values (${hash}, ${userId}, ${expiresAt}, ${meta.userAgent.slice(0, 300)}, ${meta.ip.slice(0, 64)})
      returning id`;
    const sessionId = row!.id;
    await cache([[hash.toString("hex"), { sid: sessionId, uid: userId, abs: expiresAt.getTime(), seen: Date.now() }]]);
    return { token, sessionId, userId, expiresAt };
  }

  /** What a cached entry says at `now`: null when the session has reached its absolute end. */
  function fromCache(raw: string, now: number): { entry: CachedSession; touchDue: boolean } | null {
    const entry = JSON.parse(raw) as CachedSession;
    if (entry.abs <= now) return null;
    return { entry, touchDue: now - entry.seen > touchEveryMs };
  }

  /**
   * Writes last_seen_at for these cached sessions in one statement, then their new `seen` to Redis —
   * only for those Postgres still holds live. Returns the ids of the sessions found revoked.
   */
  async function touch(due: readonly { hex: string; entry: CachedSession }[], now: number): Promise<Set<string>> {
    if (due.length === 0) return new Set();
    const live = await sql<{ id: string }[]>`
      update sessions set last_seen_at = now()
      where id = any(${due.map((d) => d.entry.sid)}::bigint[]) and revoked_at is null
      returning id`;
    const liveIds = new Set(live.map((r) => String(r.id)));
    const p = redis.pipeline();
    let n = 0;
    for (const { hex, entry } of due) {
      if (!liveIds.has(entry.sid)) continue;
      entry.seen = now;
      if (cacheWrite(p, hex, entry, "touch", now)) n++;
    }
    if (n > 0) await execOrThrow(p);
    return new Set(due.map((d) => d.entry.sid).filter((sid) => !liveIds.has(sid)));
  }

  /** Sessions Redis no longer has (expired from the cache, or lost with Redis): one Postgres statement, then refilled. */
  async function verifyManyFromPostgres(hexes: readonly string[]): Promise<Map<string, CachedSession>> {
    const rows = await sql<{ id: string; user_id: string; expires_at: Date; hex: string }[]>`
      update sessions set last_seen_at = now()
      where token_hash = any(array(select decode(h, 'hex') from unnest(${hexes as string[]}::text[]) as h))
        and revoked_at is null
        and expires_at > now()
        and last_seen_at > now() - make_interval(secs => ${idleSeconds})
      returning id, user_id, expires_at, encode(token_hash, 'hex') as hex`;
    const found = new Map(rows.map((r) => [r.hex, { sid: r.id, uid: r.user_id, abs: r.expires_at.getTime(), seen: Date.now() }]));
    await cache(found);
    return found;
  }

  /** Cookie value → session, or null. Redis hit: no Postgres. Redis miss: Postgres, then refill. */
  async function verify(token: string | undefined | null): Promise<Session | null> {
    if (!token || !TOKEN_SHAPE.test(token)) return null;
    const hex = hashSessionToken(token).toString("hex");
    const remembered = memo?.get(hex, Date.now());
    if (remembered) return remembered;
    const generation = memo?.generation() ?? 0;
    // GETEX reads and slides the idle window in one round trip; the absolute lifetime is checked below.
    const raw = await redis.getex(keys.session(hex), "PX", idleMs);
    const now = Date.now();
    let entry: CachedSession | undefined;
    if (raw) {
      const hit = fromCache(raw, now);
      if (!hit) return null;
      if (hit.touchDue && (await touch([{ hex, entry: hit.entry }], now)).size > 0) return null;
      entry = hit.entry;
    } else {
      entry = (await verifyManyFromPostgres([hex])).get(hex);
    }
    if (!entry) return null;
    const session = { sessionId: entry.sid, userId: entry.uid };
    memo?.remember(hex, session, entry.abs, now, generation);
    return session;
  }

  /**
   * `verify` for many tokens at once (the chat tier's periodic check of every open socket): per
   * chunk, one Redis pipeline, one Postgres statement for the sessions whose last_seen_at is due and
   * one for those Redis no longer has — not a round trip or a commit per socket.
   */
  async function verifyMany(tokens: readonly string[]): Promise<(Session | null)[]> {
    const out: (Session | null)[] = tokens.map(() => null);
    for (let start = 0; start < tokens.length; start += VERIFY_CHUNK) {
      const chunk = tokens.slice(start, start + VERIFY_CHUNK);
      const asked = chunk.flatMap((token, i) => (TOKEN_SHAPE.test(token) ? [{ i: start + i, hex: hashSessionToken(token).toString("hex") }] : []));
      if (asked.length === 0) continue;
      const p = redis.pipeline();
      for (const { hex } of asked) p.getex(keys.session(hex), "PX", idleMs);
      const replies = (await p.exec()) ?? [];
      const now = Date.now();
      const due: { hex: string; entry: CachedSession }[] = [];
      const missing: { i: number; hex: string }[] = [];
      asked.forEach((a, k) => {
        const [err, raw] = replies[k] ?? [new Error("no reply"), null];
        if (err) throw err;
        if (raw === null) return void missing.push(a);
        const hit = fromCache(raw as string, now);
        if (!hit) return;
        out[a.i] = { sessionId: hit.entry.sid, userId: hit.entry.uid };
        if (hit.touchDue) due.push({ hex: a.hex, entry: hit.entry });
      });
      const revoked = await touch(due, now);
      for (const a of asked) if (revoked.has(out[a.i]?.sessionId ?? "")) out[a.i] = null;
      if (missing.length === 0) continue;
      const found = await verifyManyFromPostgres(missing.map((m) => m.hex));
      for (const { i, hex } of missing) {
        const entry = found.get(hex);
        if (entry) out[i] = { sessionId: entry.sid, userId: entry.uid };
      }
    }
    return out;
  }

  async function revokeToken(token: string | undefined | null): Promise<Session | null> {
    if (!token || !TOKEN_SHAPE.test(token)) return null;
    const hash = hashSessionToken(token);
    const [row] = await sql<{ id: string; user_id: string; expires_at: Date }[]>`
      update sessions set revoked_at = now()
      where token_hash = ${hash} and revoked_at is null
      returning id, user_id, expires_at`;
    if (!row) {
      // (revoked before, or never a session: whatever Redis holds for it goes)
      await redis.del(keys.session(hash.toString("hex")));
      return null;
    }
    await dropFromRedis(row.user_id, [{ hex: hash.toString("hex"), expiresAt: row.expires_at }]);
    await announce({ userId: row.user_id, sessionIds: [row.id] });
    return { sessionId: row.id, userId: row.user_id };
  }

  async function revokeById(userId: string, sessionId: string): Promise<boolean> {
    const [row] = await sql<{ token_hash: Buffer; expires_at: Date }[]>`
      update sessions set revoked_at = now()
      where id = ${sessionId} and user_id = ${userId} and revoked_at is null
      returning token_hash, expires_at`;
    if (!row) return false;
    await dropFromRedis(userId, [{ hex: row.token_hash.toString("hex"), expiresAt: row.expires_at }]);
    await announce({ userId, sessionIds: [sessionId] });
    return true;
  }

  /** Ends every session of the member, or every one but the session of `keepToken` (a password change). */
  async function revokeAll(userId: string, keepToken?: string): Promise<number> {
    const keep = keepToken && TOKEN_SHAPE.test(keepToken) ? hashSessionToken(keepToken) : null;
    const rows = await sql<{ id: string; token_hash: Buffer; expires_at: Date }[]>`
      update sessions set revoked_at = now()
      where user_id = ${userId} and revoked_at is null and (${keep}::bytea is null or token_hash <> ${keep}::bytea)
      returning id, token_hash, expires_at`;
    const keepHex = keep?.toString("hex");
    const cached = (await redis.smembers(keys.userSessions(userId))).filter((hex) => hex !== keepHex);
    const revoked = new Map<string, Date>(cached.map((hex) => [hex, new Date(Date.now() + absoluteSeconds * 1000)]));
    for (const r of rows) revoked.set(r.token_hash.toString("hex"), r.expires_at);
    await dropFromRedis(userId, [...revoked].map(([hex, expiresAt]) => ({ hex, expiresAt })));
    if (!keep) await redis.del(keys.userSessions(userId));
    await announce({ userId, sessionIds: rows.map((r) => r.id) });
    return rows.length;
  }

  async function list(userId: string, currentSessionId?: string): Promise<SessionInfo[]> {
    const rows = await sql<{ id: string; created_at: Date; last_seen_at: Date; expires_at: Date; user_agent: string; ip: string }[]>`
      select id, created_at, last_seen_at, expires_at, user_agent, ip
      from sessions
      where user_id = ${userId} and revoked_at is null and expires_at > now()
        and last_seen_at > now() - make_interval(secs => ${idleSeconds})
      order by id desc
      limit 100`;
    return rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at.toISOString(),
      lastSeenAt: r.last_seen_at.toISOString(),
      expiresAt: r.expires_at.toISOString(),
      userAgent: r.user_agent,
      ip: r.ip,
      current: r.id === currentSessionId,
    }));
  }

  return { create, verify, verifyMany, revokeToken, revokeById, revokeAll, list };
}

export type SessionStore = ReturnType<typeof createSessionStore>;

export { readCookie, sessionCookie, clearedSessionCookie, deviceCookie } from "./cookie.ts";
export { createSessionMemo, type SessionMemo, type SessionMemoOptions } from "./memo.ts";
