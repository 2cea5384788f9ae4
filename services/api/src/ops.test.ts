import { expect, test } from "bun:test";
import { createDb } from "@xplicit/shared/db";
import { ORIGIN, startTestApi } from "../../../tests/harness/api.ts";
import { redisRelay } from "../../../tests/harness/redis-relay.ts";

/** A login the api must read Postgres and Redis for (an unknown member). */
function loginAttempt(url: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: ORIGIN },
    body: JSON.stringify({ email: "nobody@example.com", password: "not the password" }),
    ...(signal ? { signal } : {}),
  });
}

test("/healthz, /readyz, /status and /metrics answer", async () => {
  const api = await startTestApi();
  try {
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
    const status = await (await fetch(`${api.url}/status`)).json();
    expect(status).toMatchObject({ service: "api" });
    for (const key of ["uptimeSeconds", "memory", "cpuPercent", "loadAverage", "version"]) expect(status).toHaveProperty(key);
    await fetch(`${api.url}/api/me`);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toContain("process_cpu_user_seconds_total");
    expect(metrics).toMatch(/http_request_duration_seconds_bucket\{[^}]*route="\/api\/me"/);
  } finally {
    await api.stop();
  }
});

test("/readyz is 503 when Redis is unreachable", async () => {
  const api = await startTestApi({ REDIS_URL: "redis://127.0.0.1:1" });
  try {
    const res = await fetch(`${api.url}/readyz`);
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.checks.postgres).toBe("ok");
    expect(body.checks.redis).not.toBe("ok");
  } finally {
    await api.stop();
  }
});

test("a request that needs Redis while it is unreachable is a 503 to retry, not a 500", async () => {
  const api = await startTestApi({ REDIS_URL: "redis://127.0.0.1:1" });
  try {
    const res = await loginAttempt(api.url);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect((await res.json()).error.code).toBe("unavailable");
  } finally {
    await api.stop();
  }
});

test("a request stuck behind a Postgres lock is cancelled after DATABASE_STATEMENT_TIMEOUT_MS and answered 503, not held", async () => {
  const api = await startTestApi({ DATABASE_STATEMENT_TIMEOUT_MS: "300" });
  const locker = createDb(process.env.DATABASE_URL!, { max: 1, appName: "lock-holder" });
  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  try {
    const locked = new Promise<void>((ready) => {
      void locker.begin(async (tx) => {
        await tx`lock table users in access exclusive mode`;
        ready();
        await released;
      });
    });
    await locked;
    const res = await loginAttempt(api.url, AbortSignal.timeout(4000));
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe("unavailable");
  } finally {
    release();
    await locker.end();
    await api.stop();
  }
});

test("a Postgres that stops answering (frozen, its connections still open) is answered 503 within API_REQUEST_TIMEOUT_MS, not when it runs again", async () => {
  // (the relay passes any TCP: here Postgres' protocol, held back as by a stopped server)
  const relay = await redisRelay(process.env.DATABASE_URL!);
  const url = new URL(process.env.DATABASE_URL!);
  url.host = new URL(relay.url).host;
  const api = await startTestApi({ DATABASE_URL: url.href, API_REQUEST_TIMEOUT_MS: "1000", DATABASE_STATEMENT_TIMEOUT_MS: "0" });
  try {
    // connected first: a connect held back fails on its own (connect_timeout), a query on an open connection never does
    expect((await loginAttempt(api.url)).status).toBe(401);
    relay.hold();
    const res = await loginAttempt(api.url, AbortSignal.timeout(8000));
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe("unavailable");
    expect(res.headers.get("retry-after")).toBe("2");
    expect(res.headers.get("cache-control")).toBe("no-store");
  } finally {
    relay.release();
    await api.stop();
    relay.close();
  }
});

test("Postgres whose name does not resolve (a stopped container) is a 503 to retry, not a 500", async () => {
  const api = await startTestApi({ DATABASE_URL: "postgres://postgres@postgres.invalid:5432/xplicit" });
  try {
    const res = await loginAttempt(api.url);
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe("unavailable");
  } finally {
    await api.stop();
  }
});

test("unknown routes are JSON 404s", async () => {
  const api = await startTestApi();
  try {
    const res = await fetch(`${api.url}/api/nope`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe("not_found");
  } finally {
    await api.stop();
  }
});
