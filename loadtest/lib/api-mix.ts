/**
 * The api journeys of a signed-in member, weighted like a browsing session: most calls read
 * (profiles, notification badge and list, conversation list and history), some write (follow /
 * unfollow, a message over the HTTP fallback).
 */
import { check } from "k6";
import { del, get, groupOf, json, memberAt, post, type Groups, type Member, type Members } from "./api.ts";
import { uuidv4 } from "./ids.ts";

export interface ApiPool {
  members: Members;
  groups: Groups;
}

const ok = (name: string) => ({ [`${name} ok`]: (r: { status: number }) => r.status >= 200 && r.status < 300 });

function randomIndex(p: ApiPool): number {
  return Math.floor(Math.random() * p.members.sids.length);
}

function randomHandle(p: ApiPool): string {
  return p.members.handles[randomIndex(p)]!;
}

/** Sets up a small social graph and some history for the mix to read. */
export function seedPool(members: Members, groups: Groups, followsEach: number, messagesPerConversation: number): void {
  const n = members.sids.length;
  for (let i = 0; i < n; i++) {
    const me = memberAt(members, i)!;
    for (let k = 1; k <= followsEach && k < n; k++) {
      post(me, `/api/users/${members.handles[(i + k) % n]!}/follow`, {}, "follow");
    }
  }
  groups.ids.forEach((conversationId, k) => {
    const sender = memberAt(members, k * groups.size)!;
    for (let i = 0; i < messagesPerConversation; i++) {
      post(sender, "/api/messages", { id: uuidv4(), conversationId, body: `seed message ${i}`, clientTs: Date.now() }, "send_message_http");
    }
  });
}

const WEIGHTS: Array<[number, (p: ApiPool, me: Member, i: number) => void]> = [
  [20, (p, me) => void check(get(me, `/api/users/${randomHandle(p)}`, "profile"), ok("profile"))],
  [20, (_p, me) => void check(get(me, "/api/notifications/unread-count", "notifications_unread"), ok("unread count"))],
  [15, (_p, me) => void check(get(me, "/api/notifications?limit=20", "notifications_list"), ok("notifications list"))],
  [10, (_p, me) => void check(get(me, "/api/conversations", "conversations_list"), ok("conversations list"))],
  [10, (p, me, i) => {
    const c = groupOf(p.groups, i);
    if (c) check(get(me, `/api/conversations/${c.id}/messages?limit=50`, "conversation_history"), ok("history"));
  }],
  [8, (p, me) => {
    const h = randomHandle(p);
    const res = get(me, `/api/users/${h}/followers?limit=20`, "followers");
    check(res, ok("followers"));
    const next = json<{ nextCursor?: string | null }>(res)?.nextCursor;
    if (next) check(get(me, `/api/users/${h}/followers?limit=20&cursor=${encodeURIComponent(next)}`, "followers"), ok("followers page 2"));
  }],
  [5, (_p, me) => void check(get(me, "/api/me", "me"), ok("me"))],
  [6, (p, me) => {
    const other = randomHandle(p);
    if (other === me.handle) return;
    check(post(me, `/api/users/${other}/follow`, {}, "follow"), ok("follow"));
    check(del(me, `/api/users/${other}/follow`, "unfollow"), ok("unfollow"));
  }],
  [6, (p, me, i) => {
    const c = groupOf(p.groups, i);
    if (!c) return;
    const res = post(me, "/api/messages", { id: uuidv4(), conversationId: c.id, body: "hello from k6", clientTs: Date.now() }, "send_message_http");
    check(res, ok("send message"));
  }],
];
const TOTAL = WEIGHTS.reduce((s, [w]) => s + w, 0);

/** One request (or a short pair) of the mix, as a random member of the pool. */
export function apiMixIteration(pool: ApiPool): void {
  if (pool.members.sids.length === 0) return;
  const i = randomIndex(pool);
  const me = memberAt(pool.members, i)!;
  let r = Math.random() * TOTAL;
  for (const [w, fn] of WEIGHTS) {
    r -= w;
    if (r <= 0) {
      fn(pool, me, i);
      return;
    }
  }
}
