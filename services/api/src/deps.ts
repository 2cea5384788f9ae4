import type { Config } from "@xplicit/shared/config";
import type { Sql } from "@xplicit/shared/db";
import type { Redis, RedisKeys } from "@xplicit/shared/redis";
import type { SessionStore } from "@xplicit/shared/sessions";

/** Everything a module needs from the outside world, built once in main.ts (or by a test). */
export interface ApiDeps {
  config: Config;
  sql: Sql;
  redis: Redis;
  keys: RedisKeys;
  sessions: SessionStore;
}

export interface Member {
  userId: string;
  sessionId: string;
}

/** Hono environment shared by every api module. */
export interface ApiEnv {
  Variables: { member: Member };
}
