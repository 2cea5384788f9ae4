/**
 * `soak` scenario: hours at moderate load. Every device goes offline and comes back every
 * SESSION_SECONDS and resumes with its cursor (so the replay path runs all the time), while the
 * api mix runs alongside. Thresholds: zero lost, zero duplicated, latency and error budgets.
 *
 *   k6 run -e DURATION=4h -e MEMBERS=1000 -e RATE=500 loadtest/soak.ts
 *
 * Env: MEMBERS (500), SOCKETS_PER_MEMBER (1), GROUP_SIZE (2), RATE (300 msg/s), DURATION (2h),
 * SESSION_SECONDS (300), OFFLINE_SECONDS (5), API_RATE (50 it/s), P99_MS (100).
 */
import exec from "k6/execution";
import { sleep } from "k6";
import type { Options } from "k6/options";
import { RUN_ID, WS_URLS, envInt, envStr, tlsOptions } from "./lib/config.ts";
import { newDevice, pickUrl, runSession, type DeviceState } from "./lib/chat-client.ts";
import { createChatPool, deviceOf, targetsFor, type ChatPool } from "./lib/chat-pool.ts";
import { apiMixIteration, seedPool } from "./lib/api-mix.ts";
import { clientIdFor } from "./lib/ids.ts";
import { primeZeroCounters } from "./lib/metrics.ts";

const MEMBERS = envInt("MEMBERS", 500);
const SOCKETS = Math.max(1, envInt("SOCKETS_PER_MEMBER", 1));
const RATE = envInt("RATE", 300);
const DURATION = envStr("DURATION", "2h");
const SESSION_S = envInt("SESSION_SECONDS", 300);
const OFFLINE_S = envInt("OFFLINE_SECONDS", 5);
const VUS = MEMBERS * SOCKETS;

export const options: Options = {
  ...tlsOptions(),
  setupTimeout: "15m",
  summaryTrendStats: ["med", "p(90)", "p(99)", "max", "count"],
  scenarios: {
    chat: {
      executor: "constant-vus",
      vus: VUS,
      duration: DURATION,
      gracefulStop: `${SESSION_S + 30}s`,
      exec: "chat",
    },
    api: {
      executor: "constant-arrival-rate",
      rate: envInt("API_RATE", 50),
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: 20,
      maxVUs: 100,
      exec: "api",
    },
  },
  thresholds: {
    chat_lost: ["count==0"],
    chat_duplicated: ["count==0"],
    chat_send_unacked: ["count==0"],
    chat_delivery_latency: [`p(99)<${envInt("P99_MS", 100)}`],
    chat_connect_ok: ["rate>0.999"],
    http_req_failed: ["rate<0.001"],
    "http_req_duration{scenario:api}": [`p(99)<${envInt("API_P99_MS", 100)}`],
  },
};

export function setup(): ChatPool {
  const pool = createChatPool(`${RUN_ID}s`, MEMBERS, envInt("GROUP_SIZE", 2), SOCKETS);
  seedPool(pool.members, pool.conversations, 5, 5);
  return pool;
}

let device: DeviceState | null = null;

export function chat(pool: ChatPool): void {
  primeZeroCounters();
  const vu = exec.vu.idInTest - 1;
  const { memberIndex, device: deviceNo } = deviceOf(pool, vu);
  const member = pool.members[memberIndex];
  if (!member) return;
  const first = device === null;
  device ??= newDevice(clientIdFor(`${RUN_ID}s`, memberIndex, deviceNo));
  // Stagger the first connections; afterwards each iteration is: offline a moment, then a session.
  sleep(first ? (20 * vu) / VUS : OFFLINE_S * (0.5 + Math.random()));
  runSession({
    member,
    device,
    url: pickUrl(WS_URLS, vu + device.connections),
    holdMs: SESSION_S * 1000,
    sendEveryMs: RATE > 0 ? (1000 * VUS) / RATE : 0,
    sendAfterMs: first ? Math.max(0, (20 - (20 * vu) / VUS) * 1000) : 0,
    targets: targetsFor(pool, memberIndex),
    drainMs: 2000,
    // Unconfirmed sends are resent on the next session (idempotent); only old ones count as lost.
    unackedAfterMs: 60_000,
  });
}

export function api(pool: ChatPool): void {
  apiMixIteration({ members: pool.members, conversations: pool.conversations });
}
