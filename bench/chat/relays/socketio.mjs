// The common alternative: a socket.io server on Node with @socket.io/redis-adapter, the usual way
// to run socket.io on several nodes. Each socket joins the room of its member; a `send` (with an
// acknowledgement callback) is emitted to the rooms of the conversation's members, which the
// adapter relays to the other nodes through Redis. No persistence, no auth (member id in the
// handshake `auth`), websocket transport only. Benchmark-only: the product never imports socket.io.
//
//   SIO_PORT=4201 BENCH_CONVERSATIONS=/tmp/conv.json node bench/chat/relays/socketio.mjs
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import Redis from "ioredis";

const port = Number(process.env.SIO_PORT ?? 4201);
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `${process.env.REDIS_PREFIX ?? "xpbench:"}sio`;
const conversations = JSON.parse(readFileSync(process.env.BENCH_CONVERSATIONS, "utf8"));

const pubClient = new Redis(redisUrl);
const subClient = pubClient.duplicate();

const http = createServer((req, res) => {
  if (req.url === "/readyz") {
    res.writeHead(200).end("ok");
    return;
  }
  res.writeHead(404).end();
});
const io = new Server(http, {
  transports: ["websocket"],
  perMessageDeflate: false,
  serveClient: false,
  adapter: createAdapter(pubClient, subClient, { key: prefix }),
});

let nextMessageId = 0;
const tag = port.toString(36);

io.on("connection", (socket) => {
  const uid = String(socket.handshake.auth?.uid ?? "");
  if (!uid) {
    socket.disconnect(true);
    return;
  }
  socket.data.uid = uid;
  socket.join(`m:${uid}`);
  socket.on("send", (f, ack) => {
    const members = conversations[f?.conversationId];
    if (!members || !members.includes(uid)) {
      if (typeof ack === "function") ack({ error: "not_member" });
      return;
    }
    const ts = Date.now();
    const messageId = `${tag}-${++nextMessageId}`;
    io.to(members.map((m) => `m:${m}`)).emit("event", {
      kind: "message",
      ts,
      data: { messageId, conversationId: f.conversationId, senderId: uid, body: f.body, ts, clientMsgId: f.id, clientTs: f.clientTs },
    });
    if (typeof ack === "function") ack({ id: f.id, messageId, conversationId: f.conversationId, ts });
  });
});

http.listen(port, "127.0.0.1", () => console.log(`socket.io relay on ${port}`));
const stop = () => {
  io.close();
  pubClient.disconnect();
  subClient.disconnect();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
