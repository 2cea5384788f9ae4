/**
 * End to end through the real nginx edge over TLS, in front of the real api, two chat replicas and
 * the worker (tests/harness/stack.ts), against this run's Postgres database and Redis prefix.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { connect as connectTcp } from "node:net";
import { connect as connectTls } from "node:tls";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  EdgeClient,
  REPO,
  edgeFetch,
  newMemberBody,
  nextFrame,
  reserveEdgePorts,
  freePort,
  issueTestClientCert,
  revokeTestClientCert,
  startEdge,
  type Edge,
} from "../harness/edge.ts";
import { startStack, type Stack } from "../harness/stack.ts";

let stack: Stack;
let edge: Edge;
const publicDir = resolve(REPO, ".tmp", `edge-public-${process.pid}`);

beforeAll(async () => {
  mkdirSync(resolve(publicDir, "css"), { recursive: true });
  writeFileSync(resolve(publicDir, "css", "site.css"), "body{color:#222}\n");
  writeFileSync(resolve(publicDir, "css", "site.0123abcd.css"), "body{color:#333}\n");
  // what must never be served: hidden files and folders, files of types the pages do not use
  mkdirSync(resolve(publicDir, "js", ".git"), { recursive: true });
  writeFileSync(resolve(publicDir, "js", ".git", "config"), "[core]\n");
  writeFileSync(resolve(publicDir, "css", ".env"), "SECRET=1\n");
  writeFileSync(resolve(publicDir, "js", "app.js.map"), "{}\n");
  writeFileSync(resolve(publicDir, "css", "site.scss"), "$x: 1;\n");
  mkdirSync(resolve(publicDir, "img"), { recursive: true });
  writeFileSync(resolve(publicDir, "img", "icon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>\n");

  // The real processes (api + 2 chat replicas + worker), then the real nginx in front of them.
  const ports = await reserveEdgePorts();
  stack = await startStack({
    chatReplicas: 2,
    worker: true,
    env: { PUBLIC_ORIGINS: `https://localhost:${ports.httpsPort}`, TRUSTED_PROXIES: "127.0.0.1,::1" },
  });
  edge = await startEdge({ apiPort: stack.api.port, chatPorts: stack.chats.map((c) => c.port), env: { NGINX_PUBLIC_DIR: publicDir } }, ports);
}, 60000);

afterAll(async () => {
  await edge?.stop();
  await stack?.stop();
  rmSync(publicDir, { recursive: true, force: true });
}, 30000);

function expectSecurityHeaders(h: Headers) {
  expect(h.get("strict-transport-security")).toMatch(/max-age=\d{7,}/);
  const csp = h.get("content-security-policy") ?? "";
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toMatch(/script-src 'self'(;|$)/);
  expect(csp).not.toContain("unsafe-inline");
  expect(h.get("x-content-type-options")).toBe("nosniff");
  expect(h.get("referrer-policy")).toBeTruthy();
  // One copy from the edge, not one from nginx and one from the service.
  expect(csp.split("default-src").length).toBe(2);
}

describe("stopping the edge", () => {
  test("a graceful stop does not wait for open long-polls and WebSockets to end: the edge is gone in seconds, not their timeouts", async () => {
    const own = await startEdge({ apiPort: stack.api.port, chatPorts: stack.chats.map((c) => c.port) });
    try {
      const client = new EdgeClient(own);
      // (the stack takes the main edge's origin)
      expect((await client.request("POST", "/api/auth/register", newMemberBody(), { origin: edge.origin })).status).toBe(201);
      // held open by the api for up to 25 s, as every client on the HTTP fallback does
      const poll = client.request("GET", "/api/events?wait=25").catch(() => null);
      await Bun.sleep(500);
      const ms = await own.quit();
      expect(ms).toBeLessThan(12_000);
      await poll;
    } finally {
      await own.stop();
    }
  }, 60_000);
});

describe("routing over TLS", () => {
  test("port 8080-equivalent only redirects to HTTPS", async () => {
    const res = await fetch(`http://127.0.0.1:${edge.httpPort}/api/me?x=1`, { redirect: "manual", headers: { host: "localhost" } });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe(`https://localhost:${edge.httpsPort}/api/me?x=1`);
    // to the configured name, not to whatever Host the client sent
    const forged = await fetch(`http://127.0.0.1:${edge.httpPort}/x`, { redirect: "manual", headers: { host: "evil.example" } });
    expect(forged.status).toBe(301);
    expect(forged.headers.get("location")).toBe(`https://localhost:${edge.httpsPort}/x`);
  });

  test("hidden files and files of other types under the asset folders are not served; /favicon.ico is the icon", async () => {
    for (const path of ["/js/.git/config", "/css/.env", "/js/app.js.map", "/css/site.scss", "/.env", "/api/.env"]) {
      const res = await edgeFetch(edge, path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await res.text()).not.toMatch(/core|SECRET|\$x/);
    }
    const icon = await edgeFetch(edge, "/favicon.ico");
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toContain("image/svg+xml");
  });

  test("register, /api/me and logout reach the api through nginx", async () => {
    const client = new EdgeClient(edge);
    const body = newMemberBody();
    const reg = await client.request("POST", "/api/auth/register", body);
    expect(reg.status).toBe(201);
    expectSecurityHeaders(reg.headers);
    const me = await client.request("GET", "/api/me");
    expect(me.status).toBe(200);
    expect(me.json.user?.handle ?? me.json.handle).toBe(body.handle);
    expect((await client.request("POST", "/api/auth/logout")).status).toBeLessThan(300);
    expect((await client.request("GET", "/api/me")).status).toBe(401);
  });

  test("a forged X-Real-IP does not reach the api: the session records the TCP peer", async () => {
    const client = new EdgeClient(edge);
    expect((await client.request("POST", "/api/auth/register", newMemberBody(), { "x-real-ip": "203.0.113.9", "x-forwarded-for": "203.0.113.9" })).status).toBe(201);
    const sessions = await client.request("GET", "/api/me/sessions");
    expect(sessions.status).toBe(200);
    expect(JSON.stringify(sessions.json)).not.toContain("203.0.113.9");
    expect(JSON.stringify(sessions.json)).toContain("127.0.0.1");
  });

  test("pages come from the api, with the edge's headers", async () => {
    const res = await edgeFetch(edge, "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expectSecurityHeaders(res.headers);
  });

  test("HTTP/2 is negotiated", () => {
    const curl = spawnSync("curl", ["-s", "--http2", "--cacert", edge.certs.caCert, "-o", "/dev/null", "-w", "%{http_version}", `${edge.url}/nginx-healthz`], { encoding: "utf8" });
    if (curl.error) return; // no curl on this machine: the ALPN check below still runs
    expect(curl.stdout).toBe("2");
  });

  test("TLS below 1.2 is refused", () => {
    const r = spawnSync("openssl", ["s_client", "-connect", `127.0.0.1:${edge.httpsPort}`, "-tls1_1", "-servername", "localhost"], { input: "", encoding: "utf8", timeout: 10000 });
    expect(r.status).not.toBe(0);
  });

  test("static assets come from nginx, versioned ones cached for a year", async () => {
    const versioned = await edgeFetch(edge, "/css/site.0123abcd.css");
    expect(versioned.status).toBe(200);
    expect(versioned.headers.get("content-type")).toContain("text/css");
    expect(versioned.headers.get("cache-control")).toContain("immutable");
    expectSecurityHeaders(versioned.headers);
    expect(await versioned.text()).toContain("#333");

    const query = await edgeFetch(edge, "/css/site.css?v=abc123");
    expect(query.headers.get("cache-control")).toContain("max-age=31536000");
    const plain = await edgeFetch(edge, "/css/site.css");
    expect(plain.headers.get("cache-control")).toBe("no-cache");
    expect(plain.headers.get("etag")).toBeTruthy();
    const missing = await edgeFetch(edge, "/css/nope.css");
    expect(missing.status).toBe(404);
    expectSecurityHeaders(missing.headers);
    expect(missing.headers.get("content-type")).toContain("application/json");
    expect((await missing.json()).error.code).toBe("not_found");
  });

  test("bodies above the route's limit are refused with 413", async () => {
    const res = await edgeFetch(edge, "/api/auth/login", {
      method: "POST",
      headers: { origin: edge.origin, "content-type": "application/json" },
      body: JSON.stringify({ email: "x@example.test", password: "p".repeat(20000) }),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect((await res.json()).error.code).toBe("body_too_large");
    expectSecurityHeaders(res.headers);
  });

  test("a body far above the limit is refused in JSON: announced with Expect: 100-continue, and over HTTP/2", async () => {
    for (const [path, size] of [["/api/auth/login", 20_000], ["/api/me/profile", 70_000]] as const) {
      const res = await rawExchange(edge.httpsPort, [
        `POST ${path} HTTP/1.1`, "Host: localhost", "Content-Type: application/json", `Origin: ${edge.origin}`,
        `Content-Length: ${size}`, "Expect: 100-continue", "Connection: close",
      ], "x".repeat(size));
      expect({ path, status: res.status, type: res.type }).toEqual({ path, status: 413, type: expect.stringContaining("application/json") });
      expect(JSON.parse(res.body).error.code).toBe("body_too_large");
      // and over HTTP/2 (curl's default over TLS)
      const h2 = spawnSync("curl", ["-sk", "--http2", "-o", "-", "-w", "\n%{http_code} %{content_type} %{http_version}", "-X", "POST", "-H", "content-type: application/json", "-H", `origin: ${edge.origin}`, "--data-binary", "@-", `https://localhost:${edge.httpsPort}${path}`], { input: "x".repeat(size), encoding: "utf8" });
      const [bodyText = "", last = ""] = [h2.stdout.slice(0, h2.stdout.lastIndexOf("\n")), h2.stdout.slice(h2.stdout.lastIndexOf("\n") + 1)];
      expect({ path, answer: last }).toEqual({ path, answer: "413 application/json 2" });
      expect(JSON.parse(bodyText).error.code).toBe("body_too_large");
    }
  });

  test("headers too large for nginx get a JSON 4xx too", async () => {
    const res = await edgeFetch(edge, "/api/me", { headers: { cookie: `__Host-sid=${"a".repeat(20000)}` } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const body = await res.json();
    expect(body.error.code).toBeString();
    expect(res.status).toBe(431);
    expect(body.error.code).toBe("headers_too_large");
  });
});

/** Headers and a body written as given over TLS; the final answer's status, type and body (a 100 Continue skipped). */
function rawExchange(port: number, head: string[], body: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((done, fail) => {
    const socket = connectTls({ port, host: "127.0.0.1", servername: "localhost", rejectUnauthorized: false });
    const chunks: Buffer[] = [];
    socket.on("secureConnect", () => {
      socket.write(head.join("\r\n") + "\r\n\r\n");
      socket.write(body, () => {});
    });
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", (err: NodeJS.ErrnoException) => (err.code === "EPIPE" || err.code === "ECONNRESET" ? undefined : fail(err)));
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8").replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, "");
      const [h = "", b = ""] = text.split("\r\n\r\n");
      done({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(h)?.[1] ?? 0), type: /^content-type: *(.*)$/im.exec(h)?.[1] ?? "", body: b });
    });
  });
}

/** A request line as written, which fetch would refuse or normalise; the answer's status, type and body. */
function rawRequest(port: number, requestLine: string, tls: boolean): Promise<{ status: number; type: string; body: string }> {
  const text = `${requestLine}\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
  return new Promise((done, fail) => {
    const socket = tls ? connectTls({ port, host: "127.0.0.1", servername: "localhost", rejectUnauthorized: false }) : connectTcp({ port, host: "127.0.0.1" });
    const chunks: Buffer[] = [];
    socket.on(tls ? "secureConnect" : "connect", () => socket.write(text));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", fail);
    socket.on("close", () => {
      const res = Buffer.concat(chunks).toString("utf8");
      const [head = "", body = ""] = res.split("\r\n\r\n");
      done({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), type: /^content-type: *(.*)$/im.exec(head)?.[1] ?? "", body });
    });
  });
}

/** A request line with a given Host; the answer's status and Location. */
function rawRequestWithHeaders(port: number, requestLine: string, host: string): Promise<{ status: number; location: string }> {
  return new Promise((done, fail) => {
    const socket = connectTls({ port, host: "127.0.0.1", servername: "localhost", rejectUnauthorized: false });
    const chunks: Buffer[] = [];
    socket.on("secureConnect", () => socket.write(`${requestLine}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", fail);
    socket.on("close", () => {
      const head = Buffer.concat(chunks).toString("utf8").split("\r\n\r\n")[0] ?? "";
      done({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), location: /^location: *(.*)$/im.exec(head)?.[1] ?? "" });
    });
  });
}

describe("requests nginx cannot read are answered in JSON, never with its HTML pages", () => {
  const cases: [string, number, string][] = [
    ["GET /api/me/% HTTP/1.1", 400, "bad_request"],
    ["GET /css/%00 HTTP/1.1", 400, "bad_request"],
    ["GET /%2e%2e/package.json HTTP/1.1", 400, "bad_request"],
    ["GET /css/%E0%A4%A HTTP/1.1", 400, "bad_request"],
    ["G@T / HTTP/1.1", 400, "bad_request"],
    [`GET /api/me?${"a".repeat(20000)} HTTP/1.1`, 414, "uri_too_long"],
    ["TRACE /api/me HTTP/1.1", 405, "method_not_allowed"],
    ["GET /__edge_error/bad_request HTTP/1.1", 404, "not_found"],
  ];
  test("a transfer encoding nginx does not take is refused in JSON (501)", async () => {
    const res = await rawRequest(edge.httpsPort, "POST /api/me HTTP/1.1\r\nTransfer-Encoding: gzip, chunked", true);
    expect([res.status, res.type.includes("application/json"), JSON.parse(res.body).error.code]).toEqual([501, true, "not_implemented"]);
  });
  test("nginx's own slash redirects never name the client's Host", async () => {
    for (const line of ["GET /ops HTTP/1.1", "GET https://evil.example/ops HTTP/1.1"]) {
      const res = await rawRequestWithHeaders(edge.httpsPort, line, "evil.example");
      expect({ line, status: res.status, evil: res.location.includes("evil") }).toEqual({ line, status: 301, evil: false });
    }
  });
  for (const [line, status, code] of cases) {
    test(`${line.slice(0, 48)} → ${status} ${code}`, async () => {
      const res = await rawRequest(edge.httpsPort, line, true);
      expect(res.status).toBe(status);
      expect(res.type).toContain("application/json");
      expect(JSON.parse(res.body).error.code).toBe(code);
    });
  }

  test("the HTTP port too: a bad request is JSON, a good one is redirected", async () => {
    const bad = await rawRequest(edge.httpPort, "GET /css/%00 HTTP/1.1", false);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe("bad_request");
    expect((await rawRequest(edge.httpPort, "GET /css/site.css HTTP/1.1", false)).status).toBe(301);
    // whatever the body: a redirect, not a 413
    const post = await fetch(`http://127.0.0.1:${edge.httpPort}/api/x`, { method: "POST", body: "x".repeat(20_000), redirect: "manual", headers: { host: "localhost" } });
    expect(post.status).toBe(301);
  });
});

describe("mTLS operator paths", () => {
  for (const path of ["/status", "/metrics", "/api/admin/anything", "/ops/status"]) {
    test(`${path} without a client certificate: 403`, async () => {
      const res = await edgeFetch(edge, path);
      expect(res.status).toBe(403);
      expect((await res.json()).error.code).toBe("client_certificate_required");
      expectSecurityHeaders(res.headers);
    });

    test(`${path} with a forged X-Client-Verify header and no certificate: 403`, async () => {
      const res = await edgeFetch(edge, path, {
        headers: { "x-client-verify": "SUCCESS", "x-client-dn": "CN=operator", "x-client-fingerprint": "00".repeat(20) },
      });
      expect(res.status).toBe(403);
    });
  }

  test("no spelling of an operator path reaches it without the certificate, nor skips the login budget's location", async () => {
    // nginx routes on its normalised path and passes the raw one: where the services read a path
    // differently (a backslash is '/' to them), the request must be refused, not routed by `location /`
    for (const path of ["/x\\..\\metrics", "/x\\..\\status", "/x\\..\\api/auth/login", "/x%5C..%5Cmetrics", "/api%5cauth/login"]) {
      const res = await rawRequest(edge.httpsPort, `GET ${path} HTTP/1.1`, true);
      expect({ path, status: res.status, code: JSON.parse(res.body).error.code }).toEqual({ path, status: 400, code: "bad_request" });
    }
    // spellings nginx itself resolves to the operator location: its certificate check applies
    for (const path of ["/x/../metrics", "//metrics", "/x/%2e%2e/status", "/./metrics", "/x%2F..%2Fmetrics"]) {
      expect({ path, status: (await rawRequest(edge.httpsPort, `GET ${path} HTTP/1.1`, true)).status }).toEqual({ path, status: 403 });
    }
    // spellings the api does not read as the operator path either
    for (const path of ["/metrics/", "/METRICS", "/metrics;x"]) {
      expect({ path, status: (await rawRequest(edge.httpsPort, `GET ${path} HTTP/1.1`, true)).status }).toEqual({ path, status: 404 });
    }
    // a backslash in the query string is a member's text, not a path
    expect((await rawRequest(edge.httpsPort, "GET /api/healthz?q=a%5Cb\\c HTTP/1.1", true)).status).not.toBe(400);
  });

  test("/metrics with the operator certificate: Prometheus text from the api", async () => {
    const res = await edgeFetch(edge, "/metrics", {}, { clientCert: edge.operator });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("# TYPE");
  });

  test("/status and /api/admin/ with the operator certificate pass the edge", async () => {
    const status = await edgeFetch(edge, "/status", {}, { clientCert: edge.operator });
    expect(status.status).not.toBe(403);
    if (status.status === 200) {
      const body = await status.json();
      expect(Array.isArray(body.replicas)).toBe(true);
    }
    const admin = await edgeFetch(edge, "/api/admin/anything", {}, { clientCert: edge.operator });
    expect(admin.status).not.toBe(403);
  });

  test("a revoked client certificate is refused once nginx has read the revocation list; the others still pass", async () => {
    const leaver = issueTestClientCert(edge, "leaver");
    // curl: a new process, so a new TLS session each time (Bun's client keeps the one it verified with)
    const metricsWith = (cert: { cert: string; key: string }) =>
      spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", edge.certs.caCert, "--cert", cert.cert, "--key", cert.key, `${edge.url}/metrics`]).stdout.toString();
    expect(metricsWith(leaver)).toBe("200");
    revokeTestClientCert(edge, "leaver");
    edge.reload();
    let status = "200";
    for (let i = 0; i < 100 && status === "200"; i++) {
      await Bun.sleep(100);
      status = metricsWith(leaver);
    }
    // nginx refuses a certificate that fails verification itself, as one from another CA
    expect(status).toBe("400");
    expect(metricsWith(edge.operator)).toBe("200");
  });

  test("a client certificate from another CA is not accepted", async () => {
    const dir = resolve(REPO, ".tmp", `edge-foreign-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const key = resolve(dir, "k.pem");
      const crt = resolve(dir, "c.pem");
      const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=operator"]);
      expect(r.status).toBe(0);
      const res = await edgeFetch(edge, "/metrics", {}, { clientCert: { cert: crt, key } });
      expect([400, 403]).toContain(res.status);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("WebSocket through the proxy", () => {
  test("hello → welcome with the real chat tier, on the replicas behind nginx", async () => {
    const client = new EdgeClient(edge);
    expect((await client.request("POST", "/api/auth/register", newMemberBody())).status).toBe(201);
    const ws = await client.openSocket();
    try {
      const welcome = nextFrame(ws, (f) => f.type === "welcome");
      ws.send(JSON.stringify({ type: "hello", clientId: crypto.randomUUID() }));
      const frame = await welcome;
      expect(frame.connId).toBeTruthy();
      expect(["chat-1", "chat-2"]).toContain(frame.replica);
    } finally {
      ws.close();
    }
  }, 15000);
});

describe("rate limits", () => {
  test("a burst of logins from one IP gets 429 from the edge, with security headers", async () => {
    const attempts = Array.from({ length: 40 }, () =>
      edgeFetch(edge, "/api/auth/login", {
        method: "POST",
        headers: { origin: edge.origin, "content-type": "application/json" },
        body: JSON.stringify({ email: "nobody@example.test", password: "wrong password here" }),
      }),
    );
    const responses = await Promise.all((await Promise.all(attempts)).map(async (r) => ({ status: r.status, headers: r.headers, body: await r.text() })));
    const limited = responses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(40 - 1 - edge.options.limits.authBurst - 5);
    // the edge's own (the api's failed-login budget per IP, which earlier tests of a run may have
    // spent, answers 429 too, with its own window)
    const edgeLimited = limited.find((r) => r.body.includes("too many requests; slow down"))!;
    expectSecurityHeaders(edgeLimited.headers);
    expect(edgeLimited.headers.get("content-type")).toContain("application/json");
    expect(JSON.parse(edgeLimited.body).error.code).toBe("rate_limited");
    // when the login budget has room again (20/min: every 3 s), not a guess
    expect(edgeLimited.headers.get("retry-after")).toBe(String(Math.ceil(60 / edge.options.limits.authPerMinute)));
  }, 30000);
});

describe("no service behind the edge", () => {
  test("nginx's own 502 is the services' JSON error shape, with the security headers", async () => {
    const nobody = await startEdge({ apiPort: await freePort(), chatPorts: [] });
    try {
      const res = await edgeFetch(nobody, "/api/me");
      expect(res.status).toBe(502);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect((await res.json()).error.code).toBe("bad_gateway");
      expectSecurityHeaders(res.headers);
    } finally {
      await nobody.stop();
    }
  });
});
