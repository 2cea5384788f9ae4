/**
 * The one place the environment is read. Every service calls `loadConfig()` once at start-up;
 * a missing or malformed variable stops the process with a message naming it.
 */
import { resolve } from "node:path";
import { bool, int, list, str, oneOf, ConfigError, type Env } from "./parse.ts";

export { ConfigError } from "./parse.ts";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface Config {
  readonly env: "development" | "test" | "production";
  readonly version: string;
  readonly databaseUrl: string;
  readonly databasePoolSize: number;
  /** Postgres cancels a service's statement that runs longer (0: never) */
  readonly databaseStatementTimeoutMs: number;
  /** the api answers 503 past this, whatever a request waits on (the long-poll excepted); 0: never */
  readonly apiRequestTimeoutMs: number;
  readonly redisUrl: string;
  /** Prefix of every Redis key and channel this deployment uses, so test runs never collide. */
  readonly redisPrefix: string;
  /** ioredis sends the commands of one tick as one write */
  readonly redisAutoPipelining: boolean;
  /** the api applies migrations when it starts */
  readonly migrateOnStart: boolean;
  readonly host: string;
  readonly apiPort: number;
  readonly chatPort: number;
  readonly workerPort: number;
  readonly publicOrigins: readonly string[];
  /** Addresses whose X-Client-* headers (set by nginx after mTLS) are believed. */
  readonly trustedProxies: readonly string[];
  readonly logLevel: LogLevel;
  /** Per-module overrides, from LOG_LEVELS="chat=debug,sessions=warn". */
  readonly logLevels: Readonly<Record<string, LogLevel>>;
  readonly session: {
    readonly idleSeconds: number;
    readonly absoluteSeconds: number;
    readonly cookieName: string;
    /** how long the api remembers a verified session in-process (0: ask Redis every time) */
    readonly memoMs: number;
  };
  readonly login: {
    readonly maxFailuresPerAccount: number;
    readonly maxFailuresPerIp: number;
    readonly windowSeconds: number;
  };
  readonly chat: {
    readonly maxFrameBytes: number;
    readonly maxBodyChars: number;
    readonly replayMaxEvents: number;
    readonly replayMaxAgeSeconds: number;
    /** bytes of frames kept per member for replay */
    readonly replayMaxBytes: number;
    /** how long the answer to a send is kept for its repeats (one Redis key per message) */
    readonly sendAnswerTtlSeconds: number;
    readonly ratePerSecond: number;
    readonly rateBurst: number;
    readonly maxSocketsPerMember: number;
    /** sockets one replica holds at most; null: as many as its open-file limit leaves room for */
    readonly maxSockets: number | null;
    readonly maxBufferedBytes: number;
    /** bytes of `send` frames one socket may have waiting for their turn; more are refused `busy` */
    readonly maxQueuedSendBytes: number;
    /** bytes of message bodies times their recipients one member may send a second, per process */
    readonly fanoutBytesPerSecond: number;
    readonly fanoutBurstBytes: number;
    /** sends a second from all of one member's sockets on a replica together (burst: twice this) */
    readonly memberSendsPerSecond: number;
    readonly pingIntervalSeconds: number;
    /** a replica with no pub/sub round trip for this long sends its clients to the others (0: never) */
    readonly redisLostAfterSeconds: number;
    readonly drainWaveSize: number;
    readonly drainWaveMs: number;
    readonly replicaName: string;
  };
  readonly notifications: {
    readonly retentionMonths: number;
    readonly fanoutBatchSize: number;
    readonly groupWindowSeconds: number;
    /** Monthly partitions kept ahead of the current month. */
    readonly partitionsAheadMonths: number;
    /** BullMQ lock duration: a crashed worker's job is taken over after about this long. */
    readonly jobLockMs: number;
    /** Concurrent `notify` jobs per worker process. */
    readonly notifyConcurrency: number;
  };
  /** `name=url` pairs of every replica's status endpoint, for the operators' aggregated /status. */
  readonly statusTargets: string;
  readonly shutdownTimeoutMs: number;
  readonly publicDir: string;
}

const LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** CHAT_SEND_ANSWER_TTL_SECONDS unless set; also what a MessagingDeps without it uses. */
export const DEFAULT_SEND_ANSWER_TTL_SECONDS = 600;
/** A member's replay log in bytes of frames: about a thousand ordinary events, or some 85 of the longest messages. */
export const DEFAULT_REPLAY_MAX_BYTES = 1024 * 1024;

function parseLogLevels(raw: string | undefined): Record<string, LogLevel> {
  const out: Record<string, LogLevel> = {};
  for (const pair of list("LOG_LEVELS", raw, [])) {
    const [name, level] = pair.split("=");
    if (!name || !level || !(LEVELS as readonly string[]).includes(level)) {
      throw new ConfigError("LOG_LEVELS", `expected module=level pairs with level in ${LEVELS.join("|")}, got "${pair}"`);
    }
    out[name] = level as LogLevel;
  }
  return out;
}

function parseStatusTargets(raw: string | undefined): string {
  for (const item of list("STATUS_TARGETS", raw, [])) {
    if (!/^[\w.-]+=https?:\/\/\S+$/.test(item)) throw new ConfigError("STATUS_TARGETS", `expected name=http(s)://host:port pairs, got "${item}"`);
  }
  return raw?.trim() ?? "";
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf("NODE_ENV", env.NODE_ENV, ["development", "test", "production"] as const, "development");
  const chatPort = int("CHAT_PORT", env.CHAT_PORT, 3100, 1, 65535);
  return Object.freeze({
    env: nodeEnv,
    version: str("APP_VERSION", env.APP_VERSION, "0.1.0"),
    databaseUrl: str("DATABASE_URL", env.DATABASE_URL, "postgres://postgres@127.0.0.1:5432/xplicit"),
    databasePoolSize: int("DATABASE_POOL_SIZE", env.DATABASE_POOL_SIZE, 10, 1, 200),
    databaseStatementTimeoutMs: int("DATABASE_STATEMENT_TIMEOUT_MS", env.DATABASE_STATEMENT_TIMEOUT_MS, 15_000, 0, 3_600_000),
    apiRequestTimeoutMs: int("API_REQUEST_TIMEOUT_MS", env.API_REQUEST_TIMEOUT_MS, 20_000, 0, 3_600_000),
    redisUrl: str("REDIS_URL", env.REDIS_URL, "redis://127.0.0.1:6379"),
    redisPrefix: str("REDIS_PREFIX", env.REDIS_PREFIX, "xp:"),
    redisAutoPipelining: bool("REDIS_AUTO_PIPELINING", env.REDIS_AUTO_PIPELINING, false),
    migrateOnStart: bool("MIGRATE_ON_START", env.MIGRATE_ON_START, true),
    host: str("HOST", env.HOST, "127.0.0.1"),
    apiPort: int("API_PORT", env.API_PORT, 3000, 0, 65535),
    chatPort,
    workerPort: int("WORKER_PORT", env.WORKER_PORT, 3200, 0, 65535),
    publicOrigins: list("PUBLIC_ORIGINS", env.PUBLIC_ORIGINS, ["https://localhost:8443", "http://localhost:3000"]),
    trustedProxies: list("TRUSTED_PROXIES", env.TRUSTED_PROXIES, ["127.0.0.1", "::1"]),
    logLevel: oneOf("LOG_LEVEL", env.LOG_LEVEL, LEVELS, nodeEnv === "test" ? "warn" : "info"),
    logLevels: parseLogLevels(env.LOG_LEVELS),
    session: {
      idleSeconds: int("SESSION_IDLE_SECONDS", env.SESSION_IDLE_SECONDS, 7 * 86400, 1),
      absoluteSeconds: int("SESSION_ABSOLUTE_SECONDS", env.SESSION_ABSOLUTE_SECONDS, 30 * 86400, 1),
      cookieName: str("SESSION_COOKIE", env.SESSION_COOKIE, "__Host-sid"),
      memoMs: int("SESSION_MEMO_MS", env.SESSION_MEMO_MS, 2000, 0, 10_000),
    },
    login: {
      maxFailuresPerAccount: int("LOGIN_MAX_FAILURES_PER_ACCOUNT", env.LOGIN_MAX_FAILURES_PER_ACCOUNT, 5, 1),
      maxFailuresPerIp: int("LOGIN_MAX_FAILURES_PER_IP", env.LOGIN_MAX_FAILURES_PER_IP, 50, 1),
      windowSeconds: int("LOGIN_WINDOW_SECONDS", env.LOGIN_WINDOW_SECONDS, 900, 1),
    },
    chat: {
      maxFrameBytes: int("CHAT_MAX_FRAME_BYTES", env.CHAT_MAX_FRAME_BYTES, 64 * 1024, 256),
      maxBodyChars: int("CHAT_MAX_BODY_CHARS", env.CHAT_MAX_BODY_CHARS, 4000, 1),
      replayMaxEvents: int("CHAT_REPLAY_MAX_EVENTS", env.CHAT_REPLAY_MAX_EVENTS, 1000, 1),
      replayMaxAgeSeconds: int("CHAT_REPLAY_MAX_AGE_SECONDS", env.CHAT_REPLAY_MAX_AGE_SECONDS, 86400, 1),
      replayMaxBytes: int("CHAT_REPLAY_MAX_BYTES", env.CHAT_REPLAY_MAX_BYTES, DEFAULT_REPLAY_MAX_BYTES, 65536),
      sendAnswerTtlSeconds: int("CHAT_SEND_ANSWER_TTL_SECONDS", env.CHAT_SEND_ANSWER_TTL_SECONDS, DEFAULT_SEND_ANSWER_TTL_SECONDS, 60),
      ratePerSecond: int("CHAT_RATE_PER_SECOND", env.CHAT_RATE_PER_SECOND, 50, 1),
      rateBurst: int("CHAT_RATE_BURST", env.CHAT_RATE_BURST, 100, 1),
      maxSocketsPerMember: int("CHAT_MAX_SOCKETS_PER_MEMBER", env.CHAT_MAX_SOCKETS_PER_MEMBER, 16, 1),
      maxSockets: env.CHAT_MAX_SOCKETS?.trim() ? int("CHAT_MAX_SOCKETS", env.CHAT_MAX_SOCKETS, 0, 1) : null,
      maxBufferedBytes: int("CHAT_MAX_BUFFERED_BYTES", env.CHAT_MAX_BUFFERED_BYTES, 1024 * 1024, 1024),
      maxQueuedSendBytes: int("CHAT_MAX_QUEUED_SEND_BYTES", env.CHAT_MAX_QUEUED_SEND_BYTES, 1024 * 1024, 1024),
      fanoutBytesPerSecond: int("CHAT_FANOUT_BYTES_PER_SECOND", env.CHAT_FANOUT_BYTES_PER_SECOND, 128 * 1024, 1),
      fanoutBurstBytes: int("CHAT_FANOUT_BURST_BYTES", env.CHAT_FANOUT_BURST_BYTES, 1024 * 1024, 1),
      memberSendsPerSecond: int("CHAT_MEMBER_SENDS_PER_SECOND", env.CHAT_MEMBER_SENDS_PER_SECOND, 100, 1),
      pingIntervalSeconds: int("CHAT_PING_INTERVAL_SECONDS", env.CHAT_PING_INTERVAL_SECONDS, 25, 1),
      redisLostAfterSeconds: int("CHAT_REDIS_LOST_AFTER_SECONDS", env.CHAT_REDIS_LOST_AFTER_SECONDS, 30, 0, 3600),
      drainWaveSize: int("CHAT_DRAIN_WAVE_SIZE", env.CHAT_DRAIN_WAVE_SIZE, 100, 1),
      drainWaveMs: int("CHAT_DRAIN_WAVE_MS", env.CHAT_DRAIN_WAVE_MS, 250, 0),
      replicaName: str("CHAT_REPLICA_NAME", env.CHAT_REPLICA_NAME, `chat-${chatPort}`),
    },
    notifications: {
      retentionMonths: int("NOTIFICATIONS_RETENTION_MONTHS", env.NOTIFICATIONS_RETENTION_MONTHS, 12, 1),
      fanoutBatchSize: int("FANOUT_BATCH_SIZE", env.FANOUT_BATCH_SIZE, 5000, 1, 100000),
      groupWindowSeconds: int("NOTIFICATIONS_GROUP_WINDOW_SECONDS", env.NOTIFICATIONS_GROUP_WINDOW_SECONDS, 3600, 1),
      partitionsAheadMonths: int("NOTIFICATIONS_PARTITIONS_AHEAD", env.NOTIFICATIONS_PARTITIONS_AHEAD, 3, 1, 24),
      jobLockMs: int("NOTIFICATIONS_JOB_LOCK_MS", env.NOTIFICATIONS_JOB_LOCK_MS, 30000, 1000),
      notifyConcurrency: int("NOTIFICATIONS_NOTIFY_CONCURRENCY", env.NOTIFICATIONS_NOTIFY_CONCURRENCY, 16, 1, 256),
    },
    statusTargets: parseStatusTargets(env.STATUS_TARGETS),
    shutdownTimeoutMs: int("SHUTDOWN_TIMEOUT_MS", env.SHUTDOWN_TIMEOUT_MS, 10000, 100),
    publicDir: resolve(str("PUBLIC_DIR", env.PUBLIC_DIR, new URL("../../../public", import.meta.url).pathname)),
  } satisfies Config);
}

/** Parse the environment or stop the process naming the bad variable. */
export function loadConfigOrExit(env: Env = process.env): Config {
  return exitOnConfigError(() => loadConfig(env));
}

/** A setting checked once the process knows more (its limits, say): a bad one stops it, naming the variable. */
export function exitOnConfigError<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(JSON.stringify({ level: "fatal", module: "config", msg: err.message, variable: err.variable }) + "\n");
      process.exit(78);
    }
    throw err;
  }
}
