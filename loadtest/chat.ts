/**
 * `chat` scenario: MEMBERS members, each with SOCKETS_PER_MEMBER open sockets spread over the chat
 * replicas, sending to each other at RATE messages/s in total through the real protocol
 * (hello/resume, send → sent, coalesced acks). Measures end-to-end delivery latency from the
 * `clientTs` carried in each message and fails on any lost or duplicated event.
 *
 *   k6 run -e MEMBERS=500 -e RATE=2000 -e DURATION=60s loadtest/chat.ts
 *
 * Env: BASE_URL, WS_URL (comma list = round-robin over replicas), ORIGIN, MEMBERS (200),
 * SOCKETS_PER_MEMBER (1), GROUP_SIZE (2 = 1:1 pairs; ≤ 50), RATE (1000 msg/s total), DURATION (60s),
 * RAMP_SECONDS (10: connections are opened evenly over this time), DRAIN_SECONDS (5),
 * P99_MS (25), RUN_ID.
 * The server limits each socket to CHAT_RATE_PER_SECOND (50) frames/s: keep RATE / sockets below it.
 */
import exec from "k6/execution";
import { sleep } from "k6";
import type { Options } from "k6/options";
import { RUN_ID, WS_URLS, envInt, tlsOptions } from "./lib/config.ts";
import { newDevice, pickUrl, runSession, type DeviceState } from "./lib/chat-client.ts";
import { createChatPool, deviceOf, targetsFor, type ChatPool } from "./lib/chat-pool.ts";
import { clientIdFor } from "./lib/ids.ts";
import { primeZeroCounters } from "./lib/metrics.ts";

const MEMBERS = envInt("MEMBERS", 200);
const SOCKETS = Math.max(1, envInt("SOCKETS_PER_MEMBER", 1));
const RATE = envInt("RATE", 1000);
const DURATION_S = envInt("DURATION", 60);
const RAMP_S = envInt("RAMP_SECONDS", 10);
const DRAIN_S = envInt("DRAIN_SECONDS", 5);
const VUS = MEMBERS * SOCKETS;

if (RATE / VUS > envInt("SOCKET_RATE_LIMIT", 50)) console.warn(`RATE/sockets = ${(RATE / VUS).toFixed(1)}/s exceeds the per-socket limit (CHAT_RATE_PER_SECOND, 50/s by default)`);

export const options: Options = {
  ...tlsOptions(),
  setupTimeout: "15m",
  summaryTrendStats: ["med", "p(90)", "p(99)", "max", "count"],
  scenarios: {
    chat: {
      executor: "per-vu-iterations",
      vus: VUS,
      iterations: 1,
      maxDuration: `${RAMP_S + DURATION_S + DRAIN_S + 60}s`,
      gracefulStop: "30s",
    },
  },
  thresholds: {
    chat_delivery_latency: [`p(99)<${envInt("P99_MS", 25)}`],
    chat_lost: ["count==0"],
    chat_duplicated: ["count==0"],
    chat_send_unacked: ["count==0"],
    chat_connect_ok: ["rate>0.99"],
    chat_unexpected_closes: ["count==0"],
  },
};

export function setup(): ChatPool {
  return createChatPool(`${RUN_ID}c`, MEMBERS, envInt("GROUP_SIZE", 2), SOCKETS);
}

let device: DeviceState | null = null;

export default function (pool: ChatPool): void {
  primeZeroCounters();
  const vu = exec.vu.idInTest - 1;
  const { memberIndex, device: deviceNo } = deviceOf(pool, vu);
  const member = pool.members[memberIndex];
  if (!member) return;
  // Open connections evenly over the ramp, then all devices send for the same window.
  const offsetS = (RAMP_S * vu) / VUS;
  sleep(offsetS);
  device ??= newDevice(clientIdFor(RUN_ID, memberIndex, deviceNo));
  runSession({
    member,
    device,
    url: pickUrl(WS_URLS, vu),
    holdMs: (RAMP_S - offsetS + DURATION_S) * 1000,
    sendEveryMs: RATE > 0 ? (1000 * VUS) / RATE : 0,
    sendAfterMs: (RAMP_S - offsetS + 1) * 1000,
    targets: targetsFor(pool, memberIndex),
    drainMs: DRAIN_S * 1000,
  });
}
