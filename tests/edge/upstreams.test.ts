/**
 * nginx in front of chat replicas that die and come back: once they are ready again, upgrades go
 * through at once. (With failure accounting on the WebSocket upstream, replicas nginx had marked
 * failed stayed out of rotation, 502 "no live upstreams", for most of a minute after they were back:
 * the success of a trial connection counts only when that socket closes.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { EdgeClient, newMemberBody, reserveEdgePorts, startEdge, waitFor, type Edge } from "../harness/edge.ts";
import { startStack, type Stack } from "../harness/stack.ts";

let stack: Stack;
let edge: Edge;

beforeAll(async () => {
  const ports = await reserveEdgePorts();
  stack = await startStack({ chatReplicas: 2, env: { PUBLIC_ORIGINS: `https://localhost:${ports.httpsPort}`, TRUSTED_PROXIES: "127.0.0.1,::1" } });
  edge = await startEdge({ apiPort: stack.api.port, chatPorts: stack.chats.map((c) => c.port) }, ports);
}, 90_000);

afterAll(async () => {
  await edge?.stop();
  await stack?.stop();
});

async function upgradeStatus(client: EdgeClient): Promise<"open" | string> {
  try {
    const ws = await client.openSocket();
    ws.close();
    return "open";
  } catch (err) {
    return (err as Error).message;
  }
}

test("every chat replica killed, then back: WebSockets through nginx open again as soon as the replicas are ready", async () => {
  const client = new EdgeClient(edge);
  expect((await client.request("POST", "/api/auth/register", newMemberBody())).status).toBe(201);
  expect(await upgradeStatus(client)).toBe("open");

  for (const chat of stack.chats) await stack.kill(chat, "SIGKILL");
  // upgrades meet replicas that are gone (what marks them failed where nginx counts failures)
  for (let i = 0; i < 6; i++) expect(await upgradeStatus(client)).not.toBe("open");

  await Promise.all(stack.chats.map((chat) => stack.restart(chat)));
  // a socket held open across the next upgrades: nginx's trial connection, where it has one
  const held = await waitForOpen(client);
  const opened: string[] = [];
  for (let i = 0; i < 6; i++) opened.push(await upgradeStatus(client));
  held.close();
  expect(opened).toEqual(Array(6).fill("open"));
}, 90_000);

async function waitForOpen(client: EdgeClient): Promise<WebSocket> {
  let ws: WebSocket | null = null;
  await waitFor("a WebSocket through nginx", async () => {
    try {
      ws = await client.openSocket();
      return true;
    } catch {
      return false;
    }
  }, 10_000);
  return ws!;
}
