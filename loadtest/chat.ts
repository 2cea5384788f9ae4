/**
 * `chat` scenario: MEMBERS members, each with SOCKETS_PER_MEMBER open sockets spread over the chat
 * replicas, sending to each other at RATE messages/s in total through the real protocol
 * (hello/resume, send → sent, acks about once a second). Measures end-to-end delivery latency from
 * the `clientTs` carried in each message (the time k6 read the frame off the socket minus it; copies
 * delivered during a replay after a reconnect are counted but left out of the latency on purpose:
 * their age is the time the device was away) and fails on any lost or duplicated event, any send
 * left unanswered, and any resync. Lost counts seq gaps, the log's tail the socket never got, and
 * every other device's confirmed message that never reached a device (`why=sender_gap`).
 *
 *   k6 run -e MEMBERS=500 -e RATE=2000 -e DURATION=60 loadtest/chat.ts
 *
 * P99_MS (25) is the product's target for delivery p99, for servers with cores of their own. On a
 * shared 2-core host that runs k6 as well, k6's VUs take CPU from the servers and their event loops
 * add to what they measure: bench/chat's far lighter client already saw p99 23–100 ms at 2,000
 * msg/s there (docs/benchmarks.md). Such a run should raise it, e.g. -e P99_MS=250, and read the
 * p99 it reports rather than the verdict.
 *
 * Env: BASE_URL, WS_URL (comma list = round-robin over replicas), ORIGIN, MEMBERS (200),
 * SOCKETS_PER_MEMBER (1, ≤ CHAT_MAX_SOCKETS_PER_MEMBER = 16), GROUP_SIZE (2 = 1:1 pairs; ≤ 50),
 * RATE (1000 msg/s total), DURATION (60 s; 90, 90s, 2m), RAMP_SECONDS (10: connections are opened
 * evenly over this time), DRAIN_SECONDS (5), P99_MS (25), TAIL_CHECK (1), TAIL_GRACE_MS (2000), RUN_ID,
 * REGISTER_CONCURRENCY (8), UNEXPECTED_CLOSES_MAX (0; raise it for a run that kills replicas on purpose).
 * The server limits each socket to CHAT_RATE_PER_SECOND (50) frames/s, burst 100: a socket sends
 * RATE / sockets messages a second, at most one ack a second, and resends only after a reconnect
 * or a refused send (then up to 30 frames/s until the backlog is gone): keep RATE / sockets well
 * below 40; SOCKET_RATE_LIMIT (50) tells the script a server's other setting.
 * With several sockets a member, all of a member's sockets on one replica share
 * CHAT_MEMBER_SENDS_PER_SECOND (100) sends/s: MEMBER_SEND_LIMIT tells the script a server's other one.
 */
import exec from "k6/execution";
import { sleep } from "k6";
import type { Options } from "k6/options";
import { memberAt } from "./lib/api.ts";
import { TAIL_GRACE_MS, batchOptions, envInt, envNumber, envSeconds, newRunId, tlsOptions, webSocketUrls } from "./lib/config.ts";
import { newDevice, urlsFor, runSession } from "./lib/chat-client.ts";
import { createChatPool, deviceOf, targetsFor, type ChatPool } from "./lib/chat-pool.ts";
import { clientIdFor } from "./lib/ids.ts";
import { primeZeroCounters } from "./lib/metrics.ts";

const MEMBERS = envInt("MEMBERS", 200, 2);
const SOCKETS = envInt("SOCKETS_PER_MEMBER", 1, 1);
// at least 1/s: with nobody sending, the `chat_deliveries` threshold below could only fail
const RATE = envInt("RATE", 1000, 1);
const DURATION_S = envSeconds("DURATION", 60);
const RAMP_S = envSeconds("RAMP_SECONDS", 10);
const DRAIN_S = envSeconds("DRAIN_SECONDS", 5);
const VUS = MEMBERS * SOCKETS;
const WS_URLS = webSocketUrls();

export const options: Options = {
  ...tlsOptions(),
  ...batchOptions(),
  // K6_SETUP_TIMEOUT in k6's environment overrides it (setup signs up MEMBERS members)
  setupTimeout: "15m",
  summaryTrendStats: ["med", "p(90)", "p(99)", "max", "count"],
  scenarios: {
    chat: {
      executor: "per-vu-iterations",
      vus: VUS,
      iterations: 1,
      maxDuration: `${Math.ceil(RAMP_S + DURATION_S + DRAIN_S + TAIL_GRACE_MS / 1000) + 60}s`,
      gracefulStop: "30s",
    },
  },
  thresholds: {
    // live copies only: those delivered during a replay (after a reconnect) are left out on purpose
    chat_delivery_latency: [`p(99)<${envNumber("P99_MS", 25)}`],
    // Latency thresholds pass on no data: demand that messages were delivered at all.
    chat_deliveries: ["count>0"],
    chat_lost: ["count==0"],
    chat_duplicated: ["count==0"],
    chat_send_unacked: ["count==0"],
    chat_resyncs: ["count==0"],
    chat_tail_unverified: ["count==0"],
    chat_connect_ok: ["rate>0.99"],
    // A fault-injection run (replicas killed on purpose) sets UNEXPECTED_CLOSES_MAX: the killed
    // replicas' sockets close unannounced, and what must still hold is lost == duplicated == 0.
    chat_unexpected_closes: [`count<=${envInt("UNEXPECTED_CLOSES_MAX", 0)}`],
  },
};

export function setup(): ChatPool {
  // here, not at the top: every VU runs the init code, so a warning there prints once per VU
  if (RATE / VUS + 1 > envInt("SOCKET_RATE_LIMIT", 50)) {
    console.warn(`RATE/sockets = ${(RATE / VUS).toFixed(1)}/s plus an ack a second exceeds the per-socket limit (CHAT_RATE_PER_SECOND, 50/s by default)`);
  }
  if (SOCKETS > 1 && RATE / MEMBERS > envInt("MEMBER_SEND_LIMIT", 100)) {
    console.warn(`RATE/members = ${(RATE / MEMBERS).toFixed(1)}/s exceeds the per-member send limit over several sockets (CHAT_MEMBER_SENDS_PER_SECOND, 100/s by default)`);
  }
  return createChatPool(newRunId(), "c", MEMBERS, envInt("GROUP_SIZE", 2, 2), SOCKETS);
}

export default function (pool: ChatPool): void {
  primeZeroCounters();
  // One iteration per VU: the scenario's iteration number is this socket's index (0 … VUS-1).
  const socket = exec.scenario.iterationInTest;
  const { memberIndex, device: deviceNo } = deviceOf(pool, socket);
  const member = memberAt(pool.members, memberIndex);
  if (!member) return;
  // Open connections evenly over the ramp, then all devices send for the same window.
  const offsetS = (RAMP_S * socket) / VUS;
  sleep(offsetS);
  const holdMs = (RAMP_S - offsetS + DURATION_S) * 1000;
  runSession({
    member,
    // one session: a send is resent at most until it ends
    device: newDevice(clientIdFor(pool.runId, memberIndex, deviceNo), holdMs + DRAIN_S * 1000),
    urls: urlsFor(WS_URLS, socket),
    holdMs,
    sendEveryMs: RATE > 0 ? (1000 * VUS) / RATE : 0,
    sendAfterMs: (RAMP_S - offsetS + 1) * 1000,
    targets: targetsFor(pool, memberIndex),
    drainMs: DRAIN_S * 1000,
  });
}
