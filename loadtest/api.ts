/**
 * `api` scenario: a registered pool (created in setup) browsing at a fixed arrival rate.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 -e RATE=300 -e DURATION=2m loadtest/api.ts
 *
 * Env: BASE_URL, ORIGIN, MEMBERS (50), RATE (iterations/s, 200), DURATION (1m; 90, 90s, 2m, 1h),
 * MAX_VUS (200), P99_MS (100, all requests of the mix), NOTIF_P99_MS (20, the notification list),
 * PROFILE_P99_MS (20, a profile), FOLLOWS_EACH (5), SEED_MESSAGES (20), RUN_ID, INSECURE, CLIENT_CERT/KEY.
 */
import type { Options } from "k6/options";
import { createMembers, packMembers, pairUp } from "./lib/api.ts";
import { apiMixIteration, seedPool, type ApiPool } from "./lib/api-mix.ts";
import { envInt, envNumber, envSeconds, newRunId, tlsOptions } from "./lib/config.ts";

const MEMBERS = envInt("MEMBERS", 50, 2);
const RATE = envInt("RATE", 200, 1);
const MAX_VUS = envInt("MAX_VUS", 200, 1);
const DURATION = `${envSeconds("DURATION", 60)}s`;

export const options: Options = {
  ...tlsOptions(),
  setupTimeout: "10m",
  summaryTrendStats: ["med", "p(90)", "p(99)", "max", "count"],
  scenarios: {
    api: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: Math.min(50, MAX_VUS),
      maxVUs: MAX_VUS,
    },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
    "http_req_duration{scenario:api}": [`p(99)<${envNumber("P99_MS", 100)}`],
    "http_req_duration{name:notifications_list}": [`p(99)<${envNumber("NOTIF_P99_MS", 20)}`],
    "http_req_duration{name:profile}": [`p(99)<${envNumber("PROFILE_P99_MS", 20)}`],
    dropped_iterations: ["count<1"],
  },
};

export function setup(): ApiPool {
  const list = createMembers(`${newRunId()}a`, MEMBERS);
  const pool: ApiPool = { members: packMembers(list), groups: pairUp(list, 2) };
  seedPool(pool.members, pool.groups, envInt("FOLLOWS_EACH", 5), envInt("SEED_MESSAGES", 20));
  return pool;
}

export default function (pool: ApiPool): void {
  apiMixIteration(pool);
}
