import { afterAll, expect, test } from "bun:test";
import { opsRoutes } from "./index.ts";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: opsRoutes({ service: "test", version: "t", checks: {}, trustedProxies: ["127.0.0.1", "::1"] }).fetch,
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
