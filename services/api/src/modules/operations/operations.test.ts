import { afterAll, beforeAll, expect, test } from "bun:test";
import { Hono } from "hono";
import type { Server } from "bun";
import { handleError } from "@xplicit/shared/errors";
import { operationsRoutes, parseStatusTargets } from "./routes.ts";

const servers: Server<undefined>[] = [];
let base = "";
let untrustedBase = "";

function serve(fetch: (req: Request) => Response | Promise<Response>) {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch });
  servers.push(s);
  return `http://127.0.0.1:${s.port}`;
}

beforeAll(() => {
  const chat1 = serve(() => Response.json({ service: "backend-chat", replica: "chat-1", sockets: 3 }));
  const chat2 = serve(() => Response.json({ service: "backend-chat", replica: "chat-2", sockets: 5 }));
  const targets = `chat=${chat1},chat=${chat2},worker=http://127.0.0.1:1`;
  const mount = (trusted: string[]) => {
    const app = new Hono();
    app.onError(handleError);
    app.route("/", operationsRoutes({ targets, trustedProxies: trusted, timeoutMs: 1000 }));
    return serve(app.fetch);
  };
  base = mount(["127.0.0.1", "::1"]);
  untrustedBase = mount(["10.9.9.9"]);
});

afterAll(() => {
  for (const s of servers) s.stop(true);
});

const OPERATOR = { "x-client-verify": "SUCCESS", "x-client-dn": "CN=operator,O=Xplicit operators" };

test("without a verified client certificate: 403", async () => {
  const res = await fetch(`${base}/ops/status`);
  expect(res.status).toBe(403);
  expect((await res.json()).error.code).toBe("client_certificate_required");
});

test("X-Client-Verify from a peer that is not a trusted proxy is ignored", async () => {
  const res = await fetch(`${untrustedBase}/ops/status`, { headers: OPERATOR });
  expect(res.status).toBe(403);
});

test("every replica's status in one JSON view, unreachable ones reported as down", async () => {
  const res = await fetch(`${base}/ops/status`, { headers: OPERATOR });
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  const body = await res.json();
  expect(body.total).toBe(3);
  expect(body.up).toBe(2);
  const replicas = body.replicas.map((r: any) => r.status?.replica ?? r.name);
  expect(replicas).toEqual(["chat-1", "chat-2", "worker"]);
  const worker = body.replicas[2];
  expect(worker.ok).toBe(false);
  expect(worker.error).toBeTruthy();
});

test("the HTML view has no script and escapes what replicas report", async () => {
  const evil = serve(() => Response.json({ note: "<script>alert(1)</script>" }));
  const app = new Hono();
  app.route("/", operationsRoutes({ targets: `x=${evil}`, trustedProxies: [], requireClientCertificate: false }));
  const res = await app.request("/ops/status", { headers: { accept: "text/html" } });
  const html = await res.text();
  expect(res.headers.get("content-type")).toContain("text/html");
  expect(html).not.toContain("<script");
  expect(html).toContain("&lt;script&gt;");
});

test("no targets configured: the api itself", async () => {
  const self = serve(() => Response.json({ service: "api" }));
  const app = new Hono();
  app.route("/", operationsRoutes({ targets: "", self, trustedProxies: [], requireClientCertificate: false }));
  const body = await (await app.request("/ops/status")).json();
  expect(body.replicas.map((r: any) => r.status.service)).toEqual(["api"]);
});

test("STATUS_TARGETS parsing", () => {
  expect(parseStatusTargets("api=http://api:3000/, chat=http://backend-chat:3100")).toEqual([
    { name: "api", url: "http://api:3000" },
    { name: "chat", url: "http://backend-chat:3100" },
  ]);
  expect(() => parseStatusTargets("nonsense")).toThrow(/name=url/);
  expect(() => parseStatusTargets("a=ftp://x")).toThrow(/http/);
});
