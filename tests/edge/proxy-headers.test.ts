/**
 * What exactly nginx tells the services: the real nginx in front of a small upstream that reports the
 * headers it received and upgrades /ws. Checks that X-Real-IP and X-Client-* are always nginx's own
 * values (a client's forged copies never pass), that WebSocket upgrades are proxied, and that open
 * sockets per IP, and long-polls with them, are capped with limit_conn.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { EdgeClient, edgeFetch, startEdge, waitFor, type Edge } from "../harness/edge.ts";

let upstream: Server<undefined>;
let edge: Edge;
const WS_LIMIT = 3;
/** long-polls the upstream holds until the test lets them go */
const heldPolls: (() => void)[] = [];

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, server) {
      const url = new URL(req.url);
      if (url.pathname === "/ws") {
        if (server.upgrade(req)) return undefined;
        return new Response("expected a WebSocket upgrade", { status: 400 });
      }
      if (url.pathname === "/api/events") return new Promise<Response>((answer) => heldPolls.push(() => answer(Response.json({ events: [] }))));
      return Response.json({ path: url.pathname, headers: Object.fromEntries(req.headers) });
    },
    websocket: {
      message(ws, message) {
        ws.send(`echo:${message}`);
      },
    },
  });
  const port = upstream.port!;
  // The same process plays the api and the chat replica.
  edge = await startEdge({ apiPort: port, chatPorts: [port], env: { EDGE_WS_CONNECTIONS_PER_IP: String(WS_LIMIT) } });
}, 30000);

afterAll(async () => {
  await edge?.stop();
  upstream?.stop(true);
}, 15000);

const FORGED = {
  "x-client-verify": "SUCCESS",
  "x-client-dn": "CN=intruder,O=Elsewhere",
  "x-client-fingerprint": "ab".repeat(20),
  "x-real-ip": "203.0.113.7",
  "x-forwarded-for": "203.0.113.7",
};

test("without a client certificate: forged X-Client-* and X-Real-IP are replaced", async () => {
  const res = await edgeFetch(edge, "/api/echo", { headers: FORGED });
  expect(res.status).toBe(200);
  const { headers } = await res.json();
  expect(headers["x-client-verify"]).toBe("NONE");
  expect(headers["x-client-dn"]).toBeUndefined();
  expect(headers["x-client-fingerprint"]).toBeUndefined();
  expect(headers["x-real-ip"]).toBe("127.0.0.1");
  expect(headers["x-forwarded-for"]).toBe("127.0.0.1");
  expect(headers["x-forwarded-proto"]).toBe("https");
});

test("with the operator certificate: nginx's verified values, not the client's", async () => {
  const res = await edgeFetch(edge, "/api/echo", { headers: FORGED }, { clientCert: edge.operator });
  const { headers } = await res.json();
  expect(headers["x-client-verify"]).toBe("SUCCESS");
  expect(headers["x-client-dn"]).toBe("CN=operator,O=Xplicit operators");
  expect(headers["x-client-dn"]).not.toBe(FORGED["x-client-dn"]);
  expect(headers["x-client-fingerprint"]).toMatch(/^[0-9a-f]{40}$/);
  expect(headers["x-client-fingerprint"]).not.toBe(FORGED["x-client-fingerprint"]);
});

test("the operator paths reach the upstream with the certificate", async () => {
  const res = await edgeFetch(edge, "/status", {}, { clientCert: edge.operator });
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.path).toBe("/ops/status");
  expect(body.headers["x-client-verify"]).toBe("SUCCESS");
});

test("WebSocket upgrade is proxied (101) and frames flow both ways", async () => {
  const ws = await new EdgeClient(edge).openSocket();
  const reply = new Promise<string>((r) => ws.addEventListener("message", (e) => r(String(e.data)), { once: true }));
  ws.send("hi");
  expect(await reply).toBe("echo:hi");
  ws.close();
});

test(`open WebSockets per IP are capped at ${WS_LIMIT} (limit_conn → 429)`, async () => {
  const client = new EdgeClient(edge);
  const open: WebSocket[] = [];
  try {
    for (let i = 0; i < WS_LIMIT; i++) open.push(await client.openSocket());
    await expect(client.openSocket()).rejects.toThrow();
    // The refusal is an HTTP 429 on the upgrade request.
    const res = await edgeFetch(edge, "/ws", {
      headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13", "sec-websocket-key": btoa("0123456789abcdef") },
    });
    expect(res.status).toBe(429);
  } finally {
    for (const ws of open) ws.close();
  }
  // Closing frees the slots again (once nginx has seen the closes: a busy machine may take a moment).
  await Promise.all(open.map((ws) => (ws.readyState === WebSocket.CLOSED ? null : new Promise((r) => ws.addEventListener("close", r, { once: true })))));
  let again: WebSocket | null = null;
  await waitFor("a freed WebSocket slot", async () => !!(again = await client.openSocket().catch(() => null)), 2_000).catch(() => {});
  expect(again).not.toBeNull();
  again!.close();
});

test(`long-polls (the sockets' fallback) share the per-IP cap of ${WS_LIMIT} open connections`, async () => {
  const waiting = Array.from({ length: WS_LIMIT }, () => edgeFetch(edge, "/api/events?wait=25"));
  await waitFor("the long-polls to reach the upstream", async () => heldPolls.length === WS_LIMIT, 5_000);
  const refused = await edgeFetch(edge, "/api/events?wait=25");
  expect(refused.status).toBe(429);
  expect((await refused.json()).error.code).toBeDefined();
  for (const answer of heldPolls.splice(0)) answer();
  expect((await Promise.all(waiting)).map((r) => r.status)).toEqual(Array(WS_LIMIT).fill(200));
});
