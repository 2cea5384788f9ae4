/**
 * `fanout` scenario: LISTENERS members are online; then one action reaches all of them and we
 * measure, per recipient, the time from the action to the event on its socket. The maximum of
 * `fanout_delivery_latency` is the time until the last online member received it; any listener
 * that never receives an action counts in `fanout_missed` (must stay 0).
 *
 * FANOUT_MODE=broadcast (default): an operator broadcast, POST /api/admin/broadcasts, as ADMIN_EMAIL /
 *   ADMIN_PASSWORD. Through nginx the endpoint also needs the operator's client certificate:
 *   CLIENT_CERT / CLIENT_KEY (PEM paths, sent with k6's `tlsAuth`). The worker walks the members
 *   in ascending id, the newest (this run's listeners) last, and writes each a notification, so
 *   by default (BROADCAST_SCOPE=run) the broadcast carries `joinedSince`: the earliest sign-up of
 *   the run's listeners as the api reported it (the database's clock; on a fresh run, about when
 *   setup() started; on a rerun with RUN_ID, when the first run made them). It then reaches the
 *   listeners and whoever joined since, whatever the size of the database. BROADCAST_SCOPE=all
 *   sends it to every member ever registered: the time until the last listener got it then
 *   includes walking the whole members table, and every member gets a notification.
 * FANOUT_MODE=group: a popular member posts into the group conversations (≤ 50 members each) that
 *   hold every listener — the same stream, no admin needed. The api lets one member open 120
 *   conversations per 10 minutes, so LISTENERS ≤ 5880 in this mode.
 *
 * The api accepts a broadcast only from a verified client certificate that nginx reports, so
 * broadcast mode needs BASE_URL=https://… (nginx) and CLIENT_CERT / CLIENT_KEY; straight to the api
 * use FANOUT_MODE=group.
 *
 *   k6 run -e LISTENERS=1000 -e FANOUT_MODE=group loadtest/fanout.ts
 *   SSL_CERT_FILE=certs/ca.crt k6 run -e BASE_URL=https://localhost:8443 -e ADMIN_EMAIL=… -e ADMIN_PASSWORD=… \
 *     -e CLIENT_CERT=certs/clients/operator.crt -e CLIENT_KEY=certs/clients/operator.key loadtest/fanout.ts
 *
 * Env: LISTENERS (500), ACTIONS (3), ACTION_INTERVAL_SECONDS (10), CONNECT_SECONDS (15),
 * FANOUT_MAX_MS (5000), FANOUT_P99_MS (2000), BROADCAST_PATH (/api/admin/broadcasts), BROADCAST_SCOPE
 * (run | all), TAIL_CHECK (1), TAIL_GRACE_MS (2000), REGISTER_CONCURRENCY (8), RUN_ID. Seconds may
 * be written 15, 15s or 1m, as in the other scripts. setup() signs up LISTENERS members (about 8.6 a
 * second against a 2-core api: 5880 take 11 of the 15 minutes setupTimeout allows; more with
 * K6_SETUP_TIMEOUT=30m in k6's environment).
 */
import exec from "k6/execution";
import http from "k6/http";
import type { Params } from "k6/http";
import { check, sleep } from "k6";
import type { Options } from "k6/options";
import { afterAtLeast } from "./lib/timers.ts";
import { BASE_URL, PASSWORD, TAIL_GRACE_MS, batchOptions, envInt, envNumber, envSeconds, envStr, newRunId, tlsOptions, webSocketUrls } from "./lib/config.ts";
import { authParams, createConversation, createMembers, json, memberAt, packMembers, post, sessionFrom, type Member, type Members } from "./lib/api.ts";
import { newDevice, urlsFor, runSession } from "./lib/chat-client.ts";
import { clientIdFor, uuidv4 } from "./lib/ids.ts";
import { fanoutLatency, fanoutMissed, fanoutReceived, primeFanoutCounters, primeZeroCounters } from "./lib/metrics.ts";

const LISTENERS = envInt("LISTENERS", 500, 1);
const ACTIONS = envInt("ACTIONS", 3, 1);
const INTERVAL_S = Math.max(1, Math.round(envSeconds("ACTION_INTERVAL_SECONDS", 10)));
const CONNECT_S = Math.max(1, Math.round(envSeconds("CONNECT_SECONDS", 15)));
const MODE = envStr("FANOUT_MODE", "broadcast");
const SCOPE = envStr("BROADCAST_SCOPE", "run");
const HOLD_S = CONNECT_S + ACTIONS * INTERVAL_S + 10;
const WS_URLS = webSocketUrls();
if (MODE !== "broadcast" && MODE !== "group") throw new Error(`FANOUT_MODE must be broadcast or group, got "${MODE}"`);
if (SCOPE !== "run" && SCOPE !== "all") throw new Error(`BROADCAST_SCOPE must be run or all, got "${SCOPE}"`);
// Checked here, in the init context, so k6 stops before it starts LISTENERS VUs and setup() signs
// them all up.
if (MODE === "broadcast") {
  if (!/^https:/i.test(BASE_URL) || !__ENV.CLIENT_CERT) {
    throw new Error("FANOUT_MODE=broadcast needs nginx (BASE_URL=https://…) and the operator's CLIENT_CERT/CLIENT_KEY; without them use FANOUT_MODE=group");
  }
  if (!__ENV.ADMIN_EMAIL) throw new Error("FANOUT_MODE=broadcast needs ADMIN_EMAIL (and ADMIN_PASSWORD) of an admin account");
}

export const options: Options = {
  ...tlsOptions(),
  // group mode posts to every group in one http.batch: all at once (k6's defaults, 20 in all and 6
  // per host, would queue the later groups' posts in the client and count that wait in their latency)
  ...batchOptions(120),
  setupTimeout: "15m",
  summaryTrendStats: ["med", "p(90)", "p(99)", "max", "count"],
  scenarios: {
    listeners: {
      executor: "per-vu-iterations",
      vus: LISTENERS,
      iterations: 1,
      maxDuration: `${HOLD_S + Math.ceil(TAIL_GRACE_MS / 1000) + 60}s`,
      exec: "listen",
    },
    actor: {
      executor: "shared-iterations",
      vus: 1,
      iterations: 1,
      startTime: `${CONNECT_S}s`,
      maxDuration: `${ACTIONS * INTERVAL_S + 60}s`,
      exec: "act",
    },
  },
  thresholds: {
    fanout_missed: ["count==0"],
    // Latency thresholds pass on no data: demand that the actions reached someone at all.
    fanout_received: ["count>0"],
    fanout_delivery_latency: [`max<${envNumber("FANOUT_MAX_MS", 5000)}`, `p(99)<${envNumber("FANOUT_P99_MS", 2000)}`],
    chat_lost: ["count==0"],
    chat_duplicated: ["count==0"],
    chat_resyncs: ["count==0"],
    chat_tail_unverified: ["count==0"],
    chat_connect_ok: ["rate>0.99"],
  },
};

interface FanoutData {
  runId: string;
  /** the marker every action carries, `k6fanout=<runId>:<n>:<ms>` */
  mark: string;
  listeners: Members;
  actor: Member | null;
  /** group mode: the conversations that together hold every listener */
  groups: string[];
  /** broadcast mode: the `joinedSince` of each broadcast (ISO), null for every member */
  joinedSince: string | null;
}

/**
 * The scope of a broadcast that reaches every listener and as few others as it can: members who
 * joined at or after the earliest listener did, by the database's clock (the api's `createdAt`),
 * so neither the k6 machine's clock nor a rerun's older accounts (RUN_ID) can leave one out.
 */
function listenersJoinedSince(listeners: Member[], setupStartedAt: number): string {
  let earliest = Infinity;
  for (const l of listeners) {
    const t = l.createdAt ? Date.parse(l.createdAt) : NaN;
    if (Number.isFinite(t)) earliest = Math.min(earliest, t);
  }
  // an api that does not report createdAt: the time setup() began, by this machine's clock
  return new Date(Number.isFinite(earliest) ? earliest : setupStartedAt).toISOString();
}

export function setup(): FanoutData {
  const setupStartedAt = Date.now();
  const runId = newRunId();
  const mark = `k6fanout=${runId}`;
  const listeners = createMembers(`${runId}f`, LISTENERS);
  if (MODE === "group") {
    const [actor] = createMembers(`${runId}p`, 1);
    if (!actor) throw new Error("could not create the popular member");
    const groups: string[] = [];
    for (let i = 0; i < listeners.length; i += 49) {
      const id = createConversation(actor, listeners.slice(i, i + 49));
      if (!id) throw new Error(`could not create the group of listeners ${i}…${i + 48} (one member may open at most 120 conversations per 10 minutes: LISTENERS ≤ 5880)`);
      groups.push(id);
    }
    return { runId, mark, listeners: packMembers(listeners), actor, groups, joinedSince: null };
  }
  const email = __ENV.ADMIN_EMAIL!;
  const password = __ENV.ADMIN_PASSWORD || PASSWORD;
  const res = http.post(`${BASE_URL}/api/auth/login`, JSON.stringify({ email, password }), authParams(null, "login"));
  check(res, { "admin login ok": (r) => r.status === 200 });
  const sid = sessionFrom(res);
  const user = json<{ user?: { handle: string } }>(res)?.user;
  if (!sid || !user) throw new Error(`admin login failed: ${res.status}`);
  const joinedSince = SCOPE === "all" ? null : listenersJoinedSince(listeners, setupStartedAt);
  return { runId, mark, listeners: packMembers(listeners), actor: { handle: user.handle, sid }, groups: [], joinedSince };
}

export function listen(data: FanoutData): void {
  primeZeroCounters();
  primeFanoutCounters();
  // One iteration per VU: the scenario's iteration number is this listener's index (0 … LISTENERS-1).
  const n = exec.scenario.iterationInTest;
  const member = memberAt(data.listeners, n);
  if (!member) return;
  const offsetS = (Math.max(0, CONNECT_S - 5) * n) / LISTENERS;
  sleep(offsetS);
  const got = new Set<string>();
  const re = new RegExp(`${data.mark}:(\\d+):(\\d+)`);
  runSession({
    member,
    device: newDevice(clientIdFor(`${data.runId}f`, n, 0)),
    urls: urlsFor(WS_URLS, n),
    holdMs: (HOLD_S - offsetS) * 1000,
    drainMs: 1000,
    onEvent: (ev) => {
      if (ev.kind !== "notification" && ev.kind !== "message") return;
      const m = re.exec(JSON.stringify(ev.data));
      if (!m || got.has(m[1]!)) return;
      got.add(m[1]!);
      fanoutReceived.add(1);
      fanoutLatency.add(Math.max(0, ev.receivedAt - Number(m[2])));
    },
  });
  // The session runs on k6's event loop after this function returns: count the misses on a timer
  // that fires just before the session closes its socket.
  afterAtLeast(Math.max(0, (HOLD_S - offsetS) * 1000 - 100), () => fanoutMissed.add(Math.max(0, ACTIONS - got.size)));
}

export function act(data: FanoutData): void {
  const actor = data.actor;
  if (!actor) return;
  for (let n = 0; n < ACTIONS; n++) {
    const ts = Date.now();
    const marker = `${data.mark}:${n}:${ts}`;
    if (MODE === "group") {
      // One batch, not one post after the other: serially, the last group's listeners would also
      // wait for every earlier group's post (up to 120 of them), and that queue in the k6 client
      // would count in their latency. options.batch/batchPerHost let all of them go at once.
      const posts: Array<[string, string, string, Params]> = data.groups.map((conversationId) => [
        "POST",
        `${BASE_URL}/api/messages`,
        JSON.stringify({ id: uuidv4(), conversationId, body: `announcement ${marker}`, clientTs: ts }),
        authParams(actor.sid, "fanout_post"),
      ]);
      for (const res of http.batch(posts)) check(res, { "group post ok": (r) => r.status >= 200 && r.status < 300 });
    } else {
      const scope = data.joinedSince ? { joinedSince: data.joinedSince } : {};
      const res = post(actor, envStr("BROADCAST_PATH", "/api/admin/broadcasts"), { title: "Load test announcement", body: `announcement ${marker}`, ...scope }, "broadcast");
      check(res, { "broadcast accepted": (r) => r.status >= 200 && r.status < 300 });
    }
    sleep(INTERVAL_S);
  }
}

