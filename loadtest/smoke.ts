/**
 * `smoke`: one member through each journey, in seconds — sign-up/login, profile, follow, the
 * notification badge and list, a conversation, its history, and a real-time round trip (two
 * members on two replicas; A sends, B receives it once, A gets `sent`).
 *
 *   k6 run loadtest/smoke.ts
 *   SSL_CERT_FILE=certs/ca.crt k6 run -e BASE_URL=https://localhost:8443 loadtest/smoke.ts
 */
import { check, group } from "k6";
import type { Options } from "k6/options";
import { afterAtLeast } from "./lib/timers.ts";
import { TAIL_GRACE_MS, newRunId, tlsOptions, webSocketUrls } from "./lib/config.ts";
import { createConversation, del, get, json, post, registerOrLogin, type Member } from "./lib/api.ts";
import { newDevice, urlsFor, runSession } from "./lib/chat-client.ts";
import { clientIdFor } from "./lib/ids.ts";
import { connectOk, primeZeroCounters } from "./lib/metrics.ts";

const WS_URLS = webSocketUrls();

export const options: Options = {
  ...tlsOptions(),
  vus: 1,
  iterations: 1,
  thresholds: {
    checks: ["rate==1"],
    chat_lost: ["count==0"],
    chat_duplicated: ["count==0"],
    chat_send_unacked: ["count==0"],
    chat_resyncs: ["count==0"],
    chat_tail_unverified: ["count==0"],
    chat_deliveries: ["count>0"],
    chat_connect_ok: ["rate==1"],
  },
};

export function setup(): { runId: string } {
  return { runId: newRunId() };
}

const is2xx = (r: { status: number }) => r.status >= 200 && r.status < 300;

/**
 * The round trip's two sockets cannot open: count them as failed connections, so chat_connect_ok
 * is never judged without samples (k6 versions disagree on that verdict; the README's "k6" section).
 */
function noRoundTrip(why: string): void {
  connectOk.add(false, { why });
  connectOk.add(false, { why });
}

export default function (data: { runId: string }): void {
  primeZeroCounters();
  const runId = data.runId;
  let a: Member | null = null;
  let b: Member | null = null;
  let conversationId: string | null = null;

  group("accounts", () => {
    a = registerOrLogin(`${runId}s`, 0);
    b = registerOrLogin(`${runId}s`, 1);
    check(a, { "member A signed in": (x) => x !== null });
    check(b, { "member B signed in": (x) => x !== null });
  });
  if (!a || !b) return noRoundTrip("no_member");
  const A: Member = a;
  const B: Member = b;

  group("profiles and follows", () => {
    check(get(A, "/api/me", "me"), { "me 200": is2xx });
    check(get(A, `/api/users/${B.handle}`, "profile"), { "profile 200": is2xx });
    check(post(A, `/api/users/${B.handle}/follow`, {}, "follow"), { "follow 2xx": is2xx });
    const followers = get(B, `/api/users/${B.handle}/followers?limit=10`, "followers");
    check(followers, {
      "followers 200": is2xx,
      "A is a follower": (r) => JSON.stringify(json(r) ?? {}).indexOf(A.handle) >= 0,
    });
    check(del(A, `/api/users/${B.handle}/follow`, "unfollow"), { "unfollow 2xx": is2xx });
    check(post(A, `/api/users/${B.handle}/follow`, {}, "follow"), { "follow again 2xx": is2xx });
  });

  group("notifications", () => {
    check(get(B, "/api/notifications?limit=20", "notifications_list"), { "notifications 200": is2xx });
    check(get(B, "/api/notifications/unread-count", "notifications_unread"), { "unread count 200": is2xx });
  });

  group("conversations", () => {
    conversationId = createConversation(A, [B]);
    check(conversationId, { "conversation id": (x) => x !== null });
    check(get(A, "/api/conversations", "conversations_list"), { "conversations 200": is2xx });
  });
  if (!conversationId) return noRoundTrip("no_conversation");
  const cid: string = conversationId;

  group("real-time round trip", () => {
    // B listens on one replica, A sends from another: 3 messages in ~2 s.
    runSession({ member: B, device: newDevice(clientIdFor(runId, 1, 0)), urls: urlsFor(WS_URLS, 1), holdMs: 3500, drainMs: 1500 });
    runSession({
      member: A,
      device: newDevice(clientIdFor(runId, 0, 0)),
      urls: urlsFor(WS_URLS, 0),
      holdMs: 3000,
      sendAfterMs: 1000,
      sendEveryMs: 700,
      targets: [{ conversationId: cid, expectedCopies: 1 }],
      drainMs: 1500,
    });
  });
  // The sessions run on k6's event loop after this function returns; read the history once they
  // are done (B: 3.5 s online + 1.5 s drain, + the tail check's grace if it had to wait).
  afterAtLeast(5000 + 1000 + TAIL_GRACE_MS, () => {
    const history = get(B, `/api/conversations/${cid}/messages?limit=10`, "conversation_history");
    check(history, {
      "history 200": is2xx,
      "history holds the messages": (r) => (JSON.stringify(json(r) ?? {}).match(/k6 /g) ?? []).length >= 1,
    });
  });
}
