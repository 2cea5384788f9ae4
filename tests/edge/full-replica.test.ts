/**
 * A chat replica at its socket cap (CHAT_MAX_SOCKETS; by default what its open-file limit leaves)
 * refuses upgrades with 503 `replica_full` and reports not ready, and nginx takes those upgrades to
 * another replica; once a socket closes it takes new ones again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { EdgeClient, newMemberBody, reserveEdgePorts, startEdge, waitFor, type Edge } from "../harness/edge.ts";
import { startStack, type ServiceProcess, type Stack } from "../harness/stack.ts";

const CAP = 2;
let stack: Stack;
let edge: Edge;

beforeAll(async () => {
  const ports = await reserveEdgePorts();
  stack = await startStack({ chatReplicas: 2, env: { CHAT_MAX_SOCKETS: String(CAP), PUBLIC_ORIGINS: `https://localhost:${ports.httpsPort}`, TRUSTED_PROXIES: "127.0.0.1,::1" } });
  edge = await startEdge({ apiPort: stack.api.port, chatPorts: stack.chats.map((c) => c.port) }, ports);
}, 90_000);

afterAll(async () => {
  await edge?.stop();
  await stack?.stop();
});

function openDirect(replica: ServiceProcess, client: EdgeClient): Promise<WebSocket> {
  const ws = new WebSocket(`${replica.url.replace("http", "ws")}/ws`, { headers: { origin: edge.origin, cookie: client.cookieHeader } } as unknown as string[]);
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(ws), { once: true });
    ws.addEventListener("close", (e) => reject(new Error(`closed ${e.code}`)), { once: true });
  });
}

function upgradeRequest(client: EdgeClient): RequestInit {
  return { headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", Origin: edge.origin, Cookie: client.cookieHeader } };
}

const socketsOn = async (replica: ServiceProcess) => ((await (await fetch(`${replica.url}/status`)).json()) as { sockets: number; maxSockets: number });
const readiness = async (replica: ServiceProcess) => {
  const res = await fetch(`${replica.url}/readyz`);
  return { status: res.status, reason: ((await res.json()) as { reason?: string }).reason };
};

test("a full replica refuses upgrades (503 replica_full, not ready); nginx takes them to another; a closed socket makes room", async () => {
  const [full, other] = stack.chats as [ServiceProcess, ServiceProcess];
  const client = new EdgeClient(edge);
  expect((await client.request("POST", "/api/auth/register", newMemberBody())).status).toBe(201);

  const held = [await openDirect(full, client), await openDirect(full, client)];
  expect(await socketsOn(full)).toEqual(expect.objectContaining({ sockets: CAP, maxSockets: CAP }));
  const refused = await fetch(`${full.url}/ws`, upgradeRequest(client));
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).toBe("1");
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("replica_full");
  expect(await readiness(full)).toEqual({ status: 503, reason: "full" });

  // through nginx: every upgrade meeting the full replica is taken to the other one
  const viaEdge = [await client.openSocket(), await client.openSocket()];
  expect((await socketsOn(other)).sockets).toBe(CAP);
  expect((await socketsOn(full)).sockets).toBe(CAP);
  // both full: the client hears why
  const bothFull = await fetch(`${edge.url.replace(/\/$/, "")}/ws`, { ...upgradeRequest(client), tls: { ca: edge.ca } } as RequestInit);
  expect(bothFull.status).toBe(503);
  expect(((await bothFull.json()) as { error: { code: string } }).error.code).toBe("replica_full");

  held[0]!.close();
  await waitFor("the full replica to take sockets again", async () => (await readiness(full)).status === 200, 10_000);
  const again = await openDirect(full, client);
  for (const ws of [...held, ...viaEdge, again]) ws.close();
}, 60_000);

test("a parallel burst of upgrades cannot get past the replica's cap: the sockets beyond it are closed 1013 at once", async () => {
  const replica = stack.chats[0]!;
  const clients = await Promise.all(Array.from({ length: 6 }, async () => {
    const c = new EdgeClient(edge);
    expect((await c.request("POST", "/api/auth/register", newMemberBody())).status).toBe(201);
    return c;
  }));
  const sockets = clients.map((c) => new WebSocket(`${replica.url.replace("http", "ws")}/ws`, { headers: { origin: edge.origin, cookie: c.cookieHeader } } as unknown as string[]));
  await Bun.sleep(1500);
  const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN);
  expect(open.length).toBeLessThanOrEqual(CAP);
  expect((await socketsOn(replica)).sockets).toBeLessThanOrEqual(CAP);
  for (const ws of sockets) ws.close();
}, 30_000);
