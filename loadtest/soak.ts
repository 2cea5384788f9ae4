/**
 * `soak` scenario: hours at moderate load. Every device goes offline and comes back every
 * SESSION_SECONDS and resumes with its cursor (so the replay path runs all the time), while the
 * api mix runs alongside. Thresholds: zero lost, zero duplicated, no resync, latency and error budgets.
 *
 *   k6 run -e DURATION=4h -e MEMBERS=1000 -e RATE=500 loadtest/soak.ts
 *
 * The api mix's own messages (sent over HTTP to the same conversations) reach the devices too:
 * they count in the seq, duplicate and tail checks like every event, but not as the devices'
 * deliveries nor in their latency (only the devices' own numbered messages do). Each device
 * remembers message ids for as long as a send of its may still be resent (a session, plus the
 * minute an unanswered send waits for the next one), and at least 10 minutes: memory per device
 * follows its message rate, not the length of the soak.
 *
 * Env: MEMBERS (500), SOCKETS_PER_MEMBER (1), GROUP_SIZE (2), RATE (300 msg/s), DURATION (2h;
 * 90, 90s, 30m, 4h), SESSION_SECONDS (300), OFFLINE_SECONDS (5), API_RATE (50 it/s), P99_MS (100),
 * API_P99_MS (100), TAIL_CHECK (1), TAIL_GRACE_MS (2000), REGISTER_CONCURRENCY (8), RUN_ID.
 */
import exec from "k6/execution";
import { sleep } from "k6";
import type { Options } from "k6/options";
import { memberAt } from "./lib/api.ts";
import { TAIL_GRACE_MS, batchOptions, envInt, envNumber, envSeconds, newRunId, tlsOptions, webSocketUrls } from "./lib/config.ts";
import { newDevice, urlsFor, runSession, type DeviceState } from "./lib/chat-client.ts";
import { createChatPool, deviceOf, targetsFor, type ChatPool } from "./lib/chat-pool.ts";
import { apiMixIteration, seedPool } from "./lib/api-mix.ts";
import { clientIdFor } from "./lib/ids.ts";
import { primeZeroCounters } from "./lib/metrics.ts";

const MEMBERS = envInt("MEMBERS", 500, 2);
const SOCKETS = envInt("SOCKETS_PER_MEMBER", 1, 1);
// at least 1/s: with nobody sending, the `chat_deliveries` threshold could only fail
const RATE = envInt("RATE", 300, 1);
const DURATION_S = envSeconds("DURATION", 7200);
const SESSION_S = envSeconds("SESSION_SECONDS", 300);
const OFFLINE_S = envSeconds("OFFLINE_SECONDS", 5);
const VUS = MEMBERS * SOCKETS;
/** the first connections are spread over this many seconds */
const STAGGER_S = 20;
const DRAIN_MS = 2000;
/** sends unanswered at a session's end older than this are given up; younger ones wait for the next session */
const UNACKED_AFTER_MS = 60_000;
/**
 * How long after writing a send a device may still resend it: the send written just before a
 * session's end is younger than UNACKED_AFTER_MS there, waits offline, and is given up at the end
 * of the next session.
 */
const RESEND_HORIZON_MS = UNACKED_AFTER_MS + (OFFLINE_S * 1.5 + SESSION_S) * 1000 + 2 * DRAIN_MS + TAIL_GRACE_MS;
const WS_URLS = webSocketUrls();

export const options: Options = {
  ...tlsOptions(),
  ...batchOptions(),
  // K6_SETUP_TIMEOUT in k6's environment overrides it (setup signs up MEMBERS members)
  setupTimeout: "15m",
  summaryTrendStats: ["med", "p(90)", "p(99)", "max", "count"],
  scenarios: {
    chat: {
      executor: "constant-vus",
      vus: VUS,
      duration: `${DURATION_S}s`,
      // a session started just before the end runs to its end (plus drain and tail check)
      gracefulStop: `${Math.ceil(SESSION_S + OFFLINE_S * 1.5 + TAIL_GRACE_MS / 1000) + 30}s`,
      exec: "chat",
    },
    api: {
      executor: "constant-arrival-rate",
      rate: envInt("API_RATE", 50, 1),
      timeUnit: "1s",
      duration: `${DURATION_S}s`,
      preAllocatedVUs: 20,
      maxVUs: 100,
      exec: "api",
    },
  },
  thresholds: {
    chat_lost: ["count==0"],
    chat_duplicated: ["count==0"],
    chat_send_unacked: ["count==0"],
    chat_resyncs: ["count==0"],
    chat_tail_unverified: ["count==0"],
    // live copies only: those delivered during a replay (after a reconnect) are left out on purpose
    chat_delivery_latency: [`p(99)<${envNumber("P99_MS", 100)}`],
    // Latency thresholds pass on no data: demand that messages were delivered at all.
    chat_deliveries: ["count>0"],
    chat_connect_ok: ["rate>0.999"],
    http_req_failed: ["rate<0.001"],
    "http_req_duration{scenario:api}": [`p(99)<${envNumber("API_P99_MS", 100)}`],
  },
};

export function setup(): ChatPool {
  const pool = createChatPool(newRunId(), "k", MEMBERS, envInt("GROUP_SIZE", 2, 2), SOCKETS);
  seedPool(pool.members, pool.groups, 5, 5);
  return pool;
}

/** This VU's socket index in the chat scenario (0 … VUS-1), fixed on its first iteration. */
let socket = -1;
let device: DeviceState | null = null;

export function chat(pool: ChatPool): void {
  primeZeroCounters();
  const first = device === null;
  // All VUs start their first iteration together, so those get the scenario's first VUS iteration
  // numbers; exec.vu.idInTest is shared with the api scenario's VUs and carries no order.
  if (socket < 0) socket = exec.scenario.iterationInTest;
  const { memberIndex, device: deviceNo } = deviceOf(pool, socket);
  const member = memberAt(pool.members, memberIndex);
  if (!member) return;
  if (device === null) device = newDevice(clientIdFor(pool.runId, memberIndex, deviceNo), RESEND_HORIZON_MS);
  // Stagger the first connections; afterwards each iteration is: offline a moment, then a session.
  sleep(first ? (STAGGER_S * socket) / VUS : OFFLINE_S * (0.5 + Math.random()));
  runSession({
    member,
    device,
    urls: urlsFor(WS_URLS, socket + device.connections),
    holdMs: SESSION_S * 1000,
    sendEveryMs: RATE > 0 ? (1000 * VUS) / RATE : 0,
    sendAfterMs: first ? Math.max(0, (STAGGER_S - (STAGGER_S * socket) / VUS) * 1000) : 0,
    targets: targetsFor(pool, memberIndex),
    drainMs: DRAIN_MS,
    // Unconfirmed sends are resent on the next session (idempotent); only old ones count as lost.
    // The last session (constant-vus starts no iteration after DURATION) has no next one: there,
    // every unconfirmed send counts.
    unackedAfterMs: Date.now() + SESSION_S * 1000 + DRAIN_MS >= exec.scenario.startTime + DURATION_S * 1000 ? 0 : UNACKED_AFTER_MS,
  });
}

export function api(pool: ChatPool): void {
  apiMixIteration(pool);
}
