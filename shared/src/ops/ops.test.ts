import { afterAll, expect, test } from "bun:test";
import { opsRoutes } from "./index.ts";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: opsRoutes({
    service: "test",
    version: "t",
    checks: { postgres: async () => Promise.reject(new Error("connect ECONNREFUSED 10.0.3.7:5432")) },
    trustedProxies: ["127.0.0.1", "::1"],
  }).fetch,
});
const base = `http://127.0.0.1:${server.port}`;
afterAll(() => server.stop(true));

test("/status and /metrics relayed by the edge need its verified client certificate; asked directly they do not", async () => {
  for (const path of ["/status", "/metrics"]) {
    // asked on the service's own port (a scraper, the aggregated status): no edge headers
    expect((await fetch(base + path)).status).toBe(200);
    // relayed for a client (whatever spelling led nginx to forward it) without a certificate
    const relayed = await fetch(base + path, { headers: { "x-real-ip": "203.0.113.9", "x-client-verify": "NONE" } });
    expect(relayed.status).toBe(403);
    expect((await relayed.json()).error.code).toBe("client_certificate_required");
    expect((await fetch(base + path, { headers: { "x-real-ip": "203.0.113.9" } })).status).toBe(403);
    // relayed with the operator's certificate verified by nginx
    expect((await fetch(base + path, { headers: { "x-real-ip": "203.0.113.9", "x-client-verify": "SUCCESS" } })).status).toBe(200);
  }
  // liveness stays open: orchestrators ask it directly
  expect((await fetch(base + "/healthz", { headers: { "x-real-ip": "203.0.113.9" } })).status).toBe(200);
});

test("/readyz relayed by the edge without the certificate gives the verdict, not the checks' errors", async () => {
  const direct = await fetch(base + "/readyz");
  expect([direct.status, JSON.stringify(await direct.json()).includes("10.0.3.7")]).toEqual([503, true]);
  const relayed = await fetch(base + "/readyz", { headers: { "x-real-ip": "203.0.113.9" } });
  expect([relayed.status, await relayed.json()]).toEqual([503, { ok: false, service: "test" }]);
  const operator = await fetch(base + "/readyz", { headers: { "x-real-ip": "203.0.113.9", "x-client-verify": "SUCCESS" } });
  expect(JSON.stringify(await operator.json())).toContain("10.0.3.7");
});
