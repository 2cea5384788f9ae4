/**
 * The floor: the least a multi-replica chat relay can do. Bun WebSockets, one Redis pub/sub
 * channel per member (subscribed while the replica holds a socket of that member, like the real
 * chat tier), local fan-out with Bun topics. No persistence, no seq, no replay, no acks, no auth
 * (the member id comes in the query string). Frames mirror protocol v1 so the same load
 * generator drives it: `send` → `sent`, and `event {kind: "message", data}` to every socket of
 * every participant.
 *
 *   FLOOR_PORT=4101 BENCH_CONVERSATIONS=/tmp/conv.json bun bench/chat/relays/floor.ts
 */
import Redis from "ioredis";
import { readFileSync } from "node:fs";

const port = Number(process.env.FLOOR_PORT ?? 4101);
const prefix = `${process.env.REDIS_PREFIX ?? "xpbench:"}floor:`;
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const conversations: Record<string, string[]> = JSON.parse(readFileSync(process.env.BENCH_CONVERSATIONS!, "utf8"));

const pub = new Redis(redisUrl);
const sub = new Redis(redisUrl);
const localSockets = new Map<string, number>();
let nextMessageId = 0;
const replicaTag = port.toString(36);

sub.on("messageBuffer", (channel: Buffer, message: Buffer) => {
  const member = channel.toString().slice(prefix.length);
  server.publish(`m:${member}`, message);
});

interface Data {
  uid: string;
}

const server = Bun.serve<Data>({
  hostname: "127.0.0.1",
  port,
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === "/readyz") return new Response("ok");
    const uid = url.searchParams.get("uid");
    if (url.pathname === "/ws" && uid && srv.upgrade(req, { data: { uid } })) return undefined;
    return new Response("not found", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws) {
      const uid = ws.data.uid;
      ws.subscribe(`m:${uid}`);
      const n = (localSockets.get(uid) ?? 0) + 1;
      localSockets.set(uid, n);
      if (n === 1) void sub.subscribe(prefix + uid);
      ws.send(JSON.stringify({ type: "welcome", v: 1, userId: uid, cursor: 0 }));
      ws.send(JSON.stringify({ type: "synced", seq: 0 }));
    },
    close(ws) {
      const uid = ws.data.uid;
      const n = (localSockets.get(uid) ?? 1) - 1;
      if (n <= 0) {
        localSockets.delete(uid);
        void sub.unsubscribe(prefix + uid);
      } else localSockets.set(uid, n);
    },
    message(ws, raw) {
      let f: any;
      try {
        f = JSON.parse(String(raw));
      } catch {
        return;
      }
      if (f.type !== "send") return;
      const members = conversations[f.conversationId];
      if (!members || !members.includes(ws.data.uid)) {
        ws.send(JSON.stringify({ type: "error", code: "not_member", ref: f.id }));
        return;
      }
      const ts = Date.now();
      const messageId = `${replicaTag}-${++nextMessageId}`;
      const event = JSON.stringify({
        type: "event",
        ts,
        kind: "message",
        data: { messageId, conversationId: f.conversationId, senderId: ws.data.uid, body: f.body, ts, clientMsgId: f.id, clientTs: f.clientTs },
      });
      const p = pub.pipeline();
      for (const m of members) p.publish(prefix + m, event);
      void p.exec();
      ws.send(JSON.stringify({ type: "sent", id: f.id, messageId, conversationId: f.conversationId, ts }));
    },
  },
});

console.log(`floor relay on ${server.port}`);
const stop = () => {
  server.stop(true);
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
