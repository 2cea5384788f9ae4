/**
 * The emulator's k6 semantics that the scripts lean on, each with a script of a few lines: what a
 * VU keeps to itself, how iterations are numbered, when an iteration ends, how a batch is paced,
 * and the exit codes of thresholds and timeouts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT, runScript } from "./run.ts";

let dir: string;
let server: ReturnType<typeof Bun.serve>;
/** a WebSocket server that greets every socket with one frame */
let greeter: ReturnType<typeof Bun.serve>;
let inFlight = 0;
let mostInFlight = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "xp-k6-emulator-"));
  server = Bun.serve({
    port: 0,
    async fetch() {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await Bun.sleep(30);
      inFlight--;
      return new Response("ok", { headers: { "Set-Cookie": "a=1; Path=/" } });
    },
  });
});

beforeAll(() => {
  greeter = Bun.serve({
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req, { data: undefined }) ? undefined : new Response("upgrade", { status: 400 })),
    websocket: { open: (ws) => void ws.send("hello"), message() {} },
  });
});

afterAll(() => {
  greeter.stop(true);
  server.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function run(source: string, env: Record<string, string> = {}, k6Env: Record<string, string> = {}) {
  const file = join(dir, `script-${++n}.ts`);
  writeFileSync(file, source);
  const lines: string[] = [];
  const outcome = await runScript(file, { BASE: server.url.href, WS: `ws://127.0.0.1:${greeter.port}/`, ...env }, undefined, (l) => lines.push(l), k6Env);
  return { ...outcome, lines };
}

function values(o: Awaited<ReturnType<typeof run>>, metric: string): number[] {
  return o.store.series.get(metric)?.values ?? [];
}

test("each VU has its own module state, and iterations are numbered 0…n-1 in the order they start", async () => {
  const o = await run(`
    import exec from "k6/execution";
    import { Trend } from "k6/metrics";
    const seen = new Trend("seen");
    const numbers = new Trend("numbers");
    let calls = 0;
    export const options = { scenarios: { s: { executor: "per-vu-iterations", vus: 4, iterations: 2 } } };
    export default function () { calls++; seen.add(calls); numbers.add(exec.scenario.iterationInTest); }
  `);
  expect(o.code).toBe(EXIT.ok);
  expect(values(o, "seen").sort()).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
  expect(values(o, "numbers").sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
}, 30_000);

test("an iteration lasts until its timers are done, and a throwing callback fails it instead of hanging it", async () => {
  const o = await run(`
    import { setTimeout, setInterval } from "k6/timers";
    import { Counter } from "k6/metrics";
    const late = new Counter("late");
    export default function () {
      setInterval(() => {}, 50);
      setTimeout(() => late.add(1), 300);
      setTimeout(() => { throw new Error("boom in a callback"); }, 600);
    }
  `);
  expect(o.code).toBe(EXIT.ok);
  expect(values(o, "late")).toEqual([1]);
  expect(o.iterations).toEqual({ ok: 0, failed: 1, interrupted: 0 });
  expect([...o.errors.keys()].join()).toContain("boom in a callback");
}, 30_000);

test("a counter that never counted fails count>0 (k6 judges it 0); a rate without samples passes", async () => {
  const o = await run(`
    import { Counter, Rate } from "k6/metrics";
    const deliveries = new Counter("deliveries");
    const ok = new Rate("ok");
    export const options = { thresholds: { deliveries: ["count>0"], ok: ["rate>0.99"] } };
    export default function () {}
  `);
  expect(o.code).toBe(EXIT.thresholds);
  expect(o.thresholds.map((t) => [t.key, t.ok])).toEqual([
    ["deliveries", false],
    ["ok", true],
  ]);
}, 30_000);

test("http.batch runs at most 6 requests at once to one host; responses come back in order, cookies in the VU's jar", async () => {
  mostInFlight = 0;
  const o = await run(`
    import http from "k6/http";
    import { check } from "k6";
    export default function () {
      const rs = http.batch(Array.from({ length: 12 }, (_, i) => ["GET", __ENV.BASE + "?i=" + i]));
      check(rs, { "all 200": (r) => r.every((x) => x.status === 200), "in order": (r) => r.every((x, i) => x.url.endsWith("?i=" + i)) });
      check(http.cookieJar().cookiesForURL(__ENV.BASE), { "jar holds a": (c) => c.a?.[0] === "1" });
    }
  `);
  expect(o.code).toBe(EXIT.ok);
  expect(values(o, "checks")).toEqual([1, 1, 1]);
  expect(mostInFlight).toBe(6);
}, 30_000);

test("setup() past setupTimeout ends the run with k6's exit code 100; a throwing init context with 107", async () => {
  const slow = await run(`
    import { sleep } from "k6";
    export const options = { setupTimeout: "1s" };
    export function setup() { sleep(3); }
    export default function () {}
  `);
  expect(slow.code).toBe(EXIT.setupTimeout);
  const broken = await run(`throw new Error("bad init");\nexport default function () {}`);
  expect(broken.code).toBe(EXIT.scriptError);
  expect(broken.lines.join()).toContain("bad init");
}, 30_000);

test("K6_SETUP_TIMEOUT in k6's own environment overrides the script's setupTimeout, as in k6", async () => {
  const o = await run(
    `
    import { sleep } from "k6";
    export const options = { setupTimeout: "30s" };
    export function setup() { sleep(3); }
    export default function () {}
  `,
    {},
    { K6_SETUP_TIMEOUT: "1s" },
  );
  expect(o.code).toBe(EXIT.setupTimeout);
}, 30_000);

test("a WebSocket message event carries k6's timestamp: when the frame was read, in ms since the epoch", async () => {
  const o = await run(`
    import { WebSocket } from "k6/websockets";
    import { Trend } from "k6/metrics";
    const stamp = new Trend("stamp");
    const handlerLag = new Trend("handler_lag");
    export default function () {
      const ws = new WebSocket(__ENV.WS);
      ws.onmessage = (e) => {
        stamp.add(e.timestamp);
        handlerLag.add(Date.now() - e.timestamp);
        ws.close();
      };
    }
  `);
  expect(o.code).toBe(EXIT.ok);
  const [stamp] = values(o, "stamp");
  expect(Math.abs(stamp! - Date.now())).toBeLessThan(30_000);
  const [lag] = values(o, "handler_lag");
  expect(lag).toBeGreaterThanOrEqual(-1);
  expect(lag).toBeLessThan(1000);
}, 30_000);

test("constant-arrival-rate: iterations that find no free VU are dropped and counted, as k6 counts them", async () => {
  const o = await run(`
    import { sleep } from "k6";
    export const options = {
      scenarios: { a: { executor: "constant-arrival-rate", rate: 20, timeUnit: "1s", duration: "1s", preAllocatedVUs: 1, maxVUs: 1 } },
      thresholds: { dropped_iterations: ["count<1"] },
    };
    export default function () { sleep(0.3); }
  `);
  expect(o.code).toBe(EXIT.thresholds);
  const dropped = values(o, "dropped_iterations").reduce((a, b) => a + b, 0);
  const done = values(o, "iterations").length;
  expect(dropped).toBeGreaterThan(10);
  expect(done).toBeGreaterThanOrEqual(3);
  expect(dropped + done).toBe(20);
}, 30_000);
