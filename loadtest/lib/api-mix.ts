/**
 * The api journeys of a signed-in member, weighted like a browsing session: most calls read
 * (profiles, notification badge and list, conversation list and history), some write (follow /
 * unfollow, a message over the HTTP fallback).
 */
import { check } from "k6";
import { del, get, json, post, type Conversation, type Member } from "./api.ts";
import { uuidv4 } from "./ids.ts";

export interface ApiPool {
  members: Member[];
  conversations: Conversation[];
}

const ok = (name: string) => ({ [`${name} ok`]: (r: { status: number }) => r.status >= 200 && r.status < 300 });

function pick<T>(arr: T[]): T {
  return arr[Math.floor(Math.random() * arr.length)]!;
}

/** Sets up a small social graph and some history for the mix to read. */
export function seedPool(members: Member[], conversations: Conversation[], followsEach: number, messagesPerConversation: number): void {
  for (const me of members) {
    for (let k = 1; k <= followsEach; k++) {
      const other = members[(me.index + k) % members.length];
      if (other && other.handle !== me.handle) post(me, `/api/users/${other.handle}/follow`, {}, "follow");
    }
  }
  for (const c of conversations) {
    const sender = members[c.members[0]!]!;
    for (let i = 0; i < messagesPerConversation; i++) {
      post(sender, "/api/messages", { id: uuidv4(), conversationId: c.id, body: `seed message ${i}`, clientTs: Date.now() }, "send_message_http");
    }
  }
}

const WEIGHTS: Array<[number, (p: ApiPool, me: Member) => void]> = [
  [20, (p, me) => void check(get(me, `/api/users/${pick(p.members).handle}`, "profile"), ok("profile"))],
  [20, (_p, me) => void check(get(me, "/api/notifications/unread-count", "notifications_unread"), ok("unread count"))],
  [15, (_p, me) => void check(get(me, "/api/notifications?limit=20", "notifications_list"), ok("notifications list"))],
  [10, (_p, me) => void check(get(me, "/api/conversations", "conversations_list"), ok("conversations list"))],
  [10, (p, me) => {
    const mine = p.conversations.filter((c) => c.members.indexOf(p.members.indexOf(me)) >= 0);
    const c = mine.length ? pick(mine) : null;
    if (c) check(get(me, `/api/conversations/${c.id}/messages?limit=50`, "conversation_history"), ok("history"));
  }],
  [8, (p, me) => {
    const h = pick(p.members).handle;
    const res = get(me, `/api/users/${h}/followers?limit=20`, "followers");
    check(res, ok("followers"));
    const next = json<{ nextCursor?: string | null }>(res)?.nextCursor;
    if (next) check(get(me, `/api/users/${h}/followers?limit=20&cursor=${encodeURIComponent(next)}`, "followers"), ok("followers page 2"));
  }],
  [5, (_p, me) => void check(get(me, "/api/me", "me"), ok("me"))],
  [6, (p, me) => {
    const other = pick(p.members);
    if (other.handle === me.handle) return;
    const followed = post(me, `/api/users/${other.handle}/follow`, {}, "follow");
    check(followed, ok("follow"));
    check(del(me, `/api/users/${other.handle}/follow`, "unfollow"), ok("unfollow"));
  }],
  [6, (p, me) => {
    const mine = p.conversations.filter((c) => c.members.indexOf(p.members.indexOf(me)) >= 0);
    const c = mine.length ? pick(mine) : null;
    if (!c) return;
    const res = post(me, "/api/messages", { id: uuidv4(), conversationId: c.id, body: "hello from k6", clientTs: Date.now() }, "send_message_http");
    check(res, ok("send message"));
  }],
];
const TOTAL = WEIGHTS.reduce((s, [w]) => s + w, 0);

/** One request (or a short pair) of the mix, as a random member of the pool. */
export function apiMixIteration(pool: ApiPool): void {
  if (pool.members.length === 0) return;
  const me = pick(pool.members);
  let r = Math.random() * TOTAL;
  for (const [w, fn] of WEIGHTS) {
    r -= w;
    if (r <= 0) {
      fn(pool, me);
      return;
    }
  }
}
