import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type Socket } from "bun";
import { ORIGIN } from "../harness/api.ts";
import { startStack, type Stack } from "../harness/stack.ts";
import { connected, conversation, member } from "./fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    chatReplicas: 1,
    // (a reader is stalled by thousands of long messages: no fan-out budget in the way)
    env: { CHAT_MAX_BUFFERED_BYTES: "65536", CHAT_MAX_SOCKETS_PER_MEMBER: "2", CHAT_RATE_PER_SECOND: "2000", CHAT_RATE_BURST: "2000", CHAT_FANOUT_BYTES_PER_SECOND: "1000000000", CHAT_FANOUT_BURST_BYTES: "1000000000" },
  });
}, 60_000);
afterAll(() => stack?.stop());

/** A WebSocket client that completes the handshake and hello, then never reads again. */
async function stalledClient(port: number, cookie: string): Promise<{ socket: Socket; closedByServer: () => boolean }> {
  let closed = false;
  let paused = false;
  const socket = await connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data() {},
      close() {
        closed = true;
      },
    },
  });
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: ${ORIGIN}\r\nCookie: ${cookie}\r\n\r\n`,
  );
  await Bun.sleep(200);
  const hello = Buffer.from(JSON.stringify({ type: "hello", clientId: "stalled-client" }));
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(hello.map((b, i) => b ^ mask[i % 4]!));
  socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | hello.length]), mask, masked]));
  await Bun.sleep(200);
  // Stop reading: the kernel buffers fill, then the server's send buffer does.
  if (!paused) {
    (socket as unknown as { pause?: () => void }).pause?.();
    paused = true;
  }
  return { socket, closedByServer: () => closed };
}

test("a member is limited to CHAT_MAX_SOCKETS_PER_MEMBER sockets per replica (429 beyond)", async () => {
  const a = await member(stack);
  const c1 = await connected(a, stack.chats[0]!);
  const c2 = await connected(a, stack.chats[0]!);
  const res = await fetch(`${stack.chats[0]!.url}/ws`, {
    headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", Origin: ORIGIN, Cookie: a.cookie },
  });
  expect(res.status).toBe(429);
  c1.close();
  c2.close();
});

test("a consumer that stops reading is closed (1013) instead of silently skipping events; the sender is unaffected", async () => {
  const a = await member(stack);
  const b = await member(stack);
  const conv = await conversation(a, b);
  const stalled = await stalledClient(stack.chats[0]!.port, b.cookie);
  const sender = await connected(a, stack.chats[0]!);
  const body = "x".repeat(3900);
  const slowCloses = async () => {
    const metrics = await (await fetch(`${stack.chats[0]!.url}/metrics`)).text();
    return Number(/chat_slow_consumer_closes_total(?:\{[^}]*\})? (\d+)/.exec(metrics)?.[1] ?? 0);
  };
  // Send in bounded chunks (each waits for its last answer) until the server gives up on the reader.
  for (let chunk = 0; chunk < 30 && (await slowCloses()) === 0; chunk++) {
    for (let i = 0; i < 99; i++) sender.send({ type: "send", id: crypto.randomUUID(), conversationId: conv, body });
    expect((await sender.sendMessage(conv, body)).type).toBe("sent");
  }
  expect(await slowCloses()).toBeGreaterThanOrEqual(1);
  expect((await sender.sendMessage(conv, "marker")).type).toBe("sent");
  // Nothing was lost: the stalled member's stream still holds every event for a resume.
  const fresh = await connected(b, stack.chats[0]!);
  expect(fresh.closeCode).toBeNull();
  sender.close();
  fresh.close();
  stalled.socket.end();
}, 60_000);
