/**
 * ioredis factory. A service holds one command connection and, if it listens to pub/sub, one
 * subscriber connection (a subscribed connection cannot run commands). Every key and channel is
 * built through `keys` so a deployment's prefix applies everywhere.
 */
import Redis, { type RedisOptions } from "ioredis";
import { createLogger } from "../log/index.ts";

const log = createLogger("redis");

export type { Redis };
export { followRedisRuns, globLiteral, redisRunId, unlinkMatching } from "./runs.ts";

export interface RedisConnections {
  command: Redis;
  subscriber(): Redis;
  close(): Promise<void>;
}

export function createRedis(url: string, name: string, extra: RedisOptions = {}): Redis {
  const client = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(200 * attempt, 2000),
    // a failover demoted this server (the command failed, 503): connect again, which reaches the new
    // primary where the address follows it (a compose service name, a floating address)
    reconnectOnError: (err) => (/\bREADONLY\b/.test(err.message) ? 1 : false),
    ...extra,
  });
  let lastError = "";
  client.on("error", (err: Error) => {
    if (err.message !== lastError) log.warn("redis connection error", { name, error: err.message });
    lastError = err.message;
  });
  client.on("ready", () => {
    if (lastError) log.info("redis connection restored", { name });
    lastError = "";
  });
  return client;
}

/**
 * QUIT when connected (pending replies still arrive); a client that is not connected would queue
 * the QUIT until it is (forever, for a subscriber, which never gives up on a command): cut instead.
 */
async function closeClient(client: Redis): Promise<void> {
  if (client.status !== "ready") return client.disconnect();
  const late = setTimeout(() => client.disconnect(), 2_000);
  await client.quit().catch(() => {});
  clearTimeout(late);
}

/** `autoPipelining`: commands issued in the same tick go out as one write (REDIS_AUTO_PIPELINING). */
/**
 * How long a command may go unanswered (a frozen or paused Redis, a connection that is open but
 * dead) before it fails — and the request or frame behind it is answered `unavailable` (resend)
 * instead of hanging for as long as the freeze lasts. A command that still runs later is harmless:
 * everything the services write is idempotent or repeated on the resend.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5_000;

export function createRedisConnections(url: string, name: string, opts: { autoPipelining?: boolean; commandTimeoutMs?: number } = {}): RedisConnections {
  const command = createRedis(url, name, { enableAutoPipelining: opts.autoPipelining ?? false, commandTimeout: opts.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS });
  let sub: Redis | undefined;
  return {
    command,
    subscriber() {
      // Subscriptions must survive reconnects: ioredis re-subscribes automatically when
      // autoResubscribe is on (the default); no per-request retries for a listener.
      sub ??= createRedis(url, `${name}:sub`, { maxRetriesPerRequest: null });
      return sub;
    },
    async close() {
      await Promise.allSettled([closeClient(command), sub && closeClient(sub)]);
    },
  };
}

/** Key and channel names, all under one prefix. */
export function redisKeys(prefix: string) {
  return {
    prefix,
    session: (tokenHash: string) => `${prefix}sess:${tokenHash}`,
    userSessions: (userId: string) => `${prefix}user-sess:${userId}`,
    /** A revoked session, kept until it would have ended: no cache write may bring it back. */
    sessionRevoked: (tokenHash: string) => `${prefix}sess-revoked:${tokenHash}`,
    loginFailAccount: (email: string) => `${prefix}login-fail:acct:${email}`,
    loginFailIp: (ip: string) => `${prefix}login-fail:ip:${ip}`,
    /** a browser an account signed in on before (by the SHA-256 of its device cookie): the account's email */
    loginDevice: (deviceHash: string) => `${prefix}login-device:${deviceHash}`,
    loginFailDevice: (deviceHash: string) => `${prefix}login-fail:dev:${deviceHash}`,
    /** Per-member event stream: seq counter, epoch, bounded log, acks (one hash tag per member). */
    memberSeq: (userId: string) => `${prefix}ev:{${userId}}:seq`,
    memberEpoch: (userId: string) => `${prefix}ev:{${userId}}:epoch`,
    memberLog: (userId: string) => `${prefix}ev:{${userId}}:log`,
    /** Bytes of frames in the member's log (kept by the append script, which derives the name: keep them in step). */
    memberLogBytes: (userId: string) => `${prefix}ev:{${userId}}:log:bytes`,
    memberAcks: (userId: string) => `${prefix}ev:{${userId}}:acks`,
    /** Part of every stream's epoch, renewed when Redis restarts (events/index.ts: a restart may bring back older data). */
    streamGeneration: () => `${prefix}ev:generation`,
    /** The Redis run the generation was made for. */
    streamGenerationRun: () => `${prefix}ev:generation-run`,
    memberChannel: (userId: string) => `${prefix}ch:member:${userId}`,
    /** Per-replica deadlines of a member's open clients (the truth presence is derived from). */
    presence: (userId: string) => `${prefix}presence:${userId}`,
    /** Exists exactly while some replica's deadline is ahead (expires at the latest one). */
    online: (userId: string) => `${prefix}online:${userId}`,
    sendDedup: (userId: string, clientMsgId: string) => `${prefix}send:${userId}:${clientMsgId}`,
    replicaChannel: (replica: string) => `${prefix}ch:replica:${replica}`,
    unread: (userId: string) => `${prefix}notif:unread:${userId}`,
    /** Unread-counter writes in flight for a bucket of members, and how many have begun (notifications/unread.ts). */
    unreadWriters: (bucket: number) => `${prefix}notif:unread-writers:${bucket}`,
    unreadWriteGen: (bucket: number) => `${prefix}notif:unread-gen:${bucket}`,
    /** The Redis run whose counters are trusted (notifications/unread.ts: a restart may bring back older ones). */
    unreadRun: () => `${prefix}notif:unread-run`,
    /** A grouped notification event already counted in its row (notifications/write.ts). */
    /** A member's newest notification rows (notifications/recent.ts). */
    recentNotifications: (userId: string) => `${prefix}notif:recent:${userId}`,
    /** members one actor's follows, views and reactions notified in one hour */
    notificationReach: (actorId: string, hour: number) => `${prefix}notif:reach:${actorId}:${hour}`,
    /** A fixed-window write counter (shared/src/http/write-limit.ts). */
    rate: (bucket: string, who: string) => `${prefix}rate:${bucket}:${who}`,
    bullPrefix: () => `${prefix}bull`,
    /** Messages to a member with no open client, counted while their notification job waits (notifications/pending-messages.ts). */
    pendingMessageNotification: (userId: string, conversationId: string) => `${prefix}notif:pending-msg:${userId}:${conversationId}`,
    /** Written by a service's readiness check (checkRedisWritable). */
    readinessProbe: (service: string) => `${prefix}readyz:${service}`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;

/** MGET of any number of keys, 5,000 per command (one command must not hold Redis for long). */
export async function mgetInChunks(redis: Redis, keys: readonly string[]): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (let i = 0; i < keys.length; i += 5000) out.push(...(await redis.mget(...keys.slice(i, i + 5000))));
  return out;
}

/**
 * Readiness: Redis takes a write, not only a PING. A Redis out of memory (noeviction) still
 * answers PING while refusing every append and session write.
 */
export async function checkRedisWritable(redis: Redis, keys: RedisKeys, service: string): Promise<void> {
  await redis.set(keys.readinessProbe(service), "1", "PX", 10_000);
}
