/**
 * Runs a k6 script of loadtest/ under Bun, with the k6 APIs those scripts use emulated
 * (loadtest/emulator/vu): for this machine, where k6 cannot be installed, and for CI, which runs
 * the scripts this way against the real stack so they cannot drift from the protocol unseen.
 * It is not k6: use k6 for load figures. Exit codes are k6's: 99 thresholds failed, 100 setup()
 * ran past setupTimeout, 104 bad options, 107 script error in the init context or setup(), 108
 * test.abort(). Known differences from k6 are listed in the README ("k6" section).
 *
 *   bun loadtest/emulator/run.ts [-e NAME=value]… [--summary-json FILE] loadtest/smoke.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { initialVus, runScenario } from "./executors.ts";
import { aggregate, MetricStore, type MetricType } from "./metrics.ts";
import type { TlsSettings } from "./protocol.ts";
import { parseDuration, scenariosOf, type Scenario } from "./scenarios.ts";
import { evaluateThresholds, parseThresholdKey, type ThresholdResult } from "./thresholds.ts";
import { VuHandle, type Done, type RunContext } from "./vu-handle.ts";

export const EXIT = { ok: 0, thresholds: 99, setupTimeout: 100, invalidConfig: 104, scriptError: 107, aborted: 108 } as const;

const BUILT_IN: Record<string, MetricType> = {
  checks: "rate",
  http_reqs: "counter",
  http_req_duration: "trend",
  http_req_waiting: "trend",
  http_req_failed: "rate",
  iterations: "counter",
  iteration_duration: "trend",
  dropped_iterations: "counter",
  group_duration: "trend",
  ws_sessions: "counter",
  ws_connecting: "trend",
  ws_msgs_sent: "counter",
  ws_msgs_received: "counter",
  ws_session_duration: "trend",
};

interface Args {
  script: string;
  env: Record<string, string>;
  summaryJson: string | null;
}

function parseArgs(argv: string[]): Args {
  const env: Record<string, string> = {};
  let script = "";
  let summaryJson: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-e" || a === "--env") {
      const pair = argv[++i] ?? "";
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new Error(`-e takes NAME=value, got "${pair}"`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    } else if (a === "--summary-json") summaryJson = argv[++i] ?? null;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
    else script = a;
  }
  if (!script) throw new Error("usage: bun loadtest/emulator/run.ts [-e NAME=value]… [--summary-json FILE] script.ts");
  return { script: resolve(script), env, summaryJson };
}

/**
 * k6 on Linux trusts SSL_CERT_FILE of its own process environment (Go's TLS stack reads it; `-e`
 * does not reach it) instead of the system bundle; insecureSkipTLSVerify and tlsAuth come from options.
 */
function tlsFrom(options: Record<string, unknown>, sslCertFile: string | undefined): TlsSettings {
  const certs = (options.tlsAuth as Array<{ cert: string; key: string }> | undefined) ?? [];
  return {
    insecureSkipTLSVerify: options.insecureSkipTLSVerify === true,
    ca: sslCertFile ? readFileSync(sslCertFile, "utf8") : null,
    clientCert: certs[0] ? { cert: certs[0].cert, key: certs[0].key } : null,
  };
}

interface Outcome {
  code: number;
  thresholds: ThresholdResult[];
  store: MetricStore;
  seconds: number;
  iterations: { ok: number; failed: number; interrupted: number };
  errors: Map<string, number>;
}

function positive(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a whole number >= 1, got ${JSON.stringify(v)}`);
  return v;
}

function durationOr(v: unknown, fallback: number): number {
  return v === undefined ? fallback : parseDuration(v, "setupTimeout/teardownTimeout");
}

function firstLine(s: string): string {
  return s.split("\n").slice(0, 2).join(" | ");
}

/** A call that did not answer in time ends its VU; the error says which limit it passed. */
async function within(ms: number, what: string, vu: VuHandle, call: Promise<Done>): Promise<Done & { timedOut?: true }> {
  let timer: Timer | undefined;
  const late = new Promise<Done & { timedOut: true }>((resolve) => (timer = setTimeout(() => resolve({ ok: false, error: `${what} ran longer than ${ms / 1000} s`, timedOut: true }), ms)));
  const outcome = await Promise.race([call, late]);
  clearTimeout(timer);
  if ("timedOut" in outcome) vu.terminate();
  return outcome;
}

/**
 * `env`: what the script sees in __ENV (k6: the process environment and every -e); `sslCertFile`:
 * the process' own SSL_CERT_FILE; `k6Env`: the process environment k6 reads its K6_* options from
 * (`-e` does not reach them).
 */
export async function runScript(
  script: string,
  env: Record<string, string>,
  sslCertFile: string | undefined,
  log: (line: string) => void = console.log,
  k6Env: Record<string, string | undefined> = {},
): Promise<Outcome> {
  const store = new MetricStore();
  const declared = new Map<string, MetricType>(Object.entries(BUILT_IN));
  let abortReason: string | null = null;
  const all: VuHandle[] = [];
  const ctx: RunContext = {
    script,
    env,
    store,
    declared,
    tls: null,
    batch: { total: 20, perHost: 6 },
    onAbort: (r) => {
      abortReason ??= r;
      // k6 stops the test at once: iterations still running are interrupted
      all.forEach((v) => v.busy && v.terminate());
    },
  };
  const errors = new Map<string, number>();
  const iterations = { ok: 0, failed: 0, interrupted: 0 };
  const fail = (code: number, why: string): Outcome => {
    log(`ERROR: ${why}`);
    all.forEach((v) => v.terminate());
    return { code, thresholds: [], store, seconds: 0, iterations, errors };
  };
  const spawn = (id: number) => {
    const v = new VuHandle(id, ctx);
    all.push(v);
    return v;
  };

  const probe = spawn(0);
  const probed = await probe.start();
  probe.terminate();
  if ("error" in probed) return fail(EXIT.scriptError, `the init context failed: ${probed.error}`);
  const options = probed.options as Record<string, unknown>;
  let scenarios: Scenario[];
  let setupMs = 60_000;
  let teardownMs = 60_000;
  try {
    // k6 takes K6_SETUP_TIMEOUT / K6_TEARDOWN_TIMEOUT of its own environment over the script's options
    setupMs = durationOr(k6Env.K6_SETUP_TIMEOUT || options.setupTimeout, setupMs);
    teardownMs = durationOr(k6Env.K6_TEARDOWN_TIMEOUT || options.teardownTimeout, teardownMs);
    scenarios = scenariosOf(options);
    ctx.tls = tlsFrom(options, sslCertFile);
    ctx.batch = { total: positive(options.batch, "batch", 20), perHost: positive(options.batchPerHost, "batchPerHost", 6) };
    for (const key of Object.keys((options.thresholds as object) ?? {})) {
      const { metric } = parseThresholdKey(key);
      if (!declared.has(metric)) throw new Error(`threshold on "${metric}": no such metric (k6 refuses it)`);
    }
  } catch (err) {
    return fail(EXIT.invalidConfig, (err as Error).message);
  }

  let nextId = 1;
  const vusOf = await Promise.all(
    scenarios.map(async (s) => {
      const vus = Array.from({ length: initialVus(s) }, () => spawn(nextId++));
      const started = await Promise.all(vus.map((v) => v.start()));
      const bad = started.find((r) => "error" in r);
      return bad && "error" in bad ? bad.error : vus;
    }),
  );
  const initError = vusOf.find((v): v is string => typeof v === "string");
  if (initError) return fail(EXIT.scriptError, `a VU's init context failed: ${initError}`);

  const setupVu = spawn(0);
  await setupVu.start();
  const setup = await within(setupMs, "setup()", setupVu, setupVu.call("setup", undefined));
  if (abortReason) return fail(EXIT.aborted, `test aborted in setup(): ${abortReason}`);
  if (setup.timedOut) return fail(EXIT.setupTimeout, `${setup.error} (setupTimeout)`);
  if (!setup.ok) return fail(EXIT.scriptError, `setup() failed: ${setup.error}`);
  const data = setup.result;

  const onIterationDone = (d: Done) => {
    if (d.ok) iterations.ok++;
    else if (d.error === "interrupted") iterations.interrupted++;
    else {
      iterations.failed++;
      const key = firstLine(d.error ?? "error");
      if (!errors.has(key)) log(`iteration failed: ${d.error}`);
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
  };
  const testStart = Date.now();
  await Promise.all(
    scenarios.map(async (scenario, i) => {
      await new Promise((r) => setTimeout(r, scenario.startTimeMs));
      await runScenario(
        {
          scenario,
          data,
          newVu: async () => {
            const v = spawn(nextId++);
            await v.start();
            return v;
          },
          onIterationDone,
          onDropped: (n) => store.add({ metric: "dropped_iterations", type: "counter", isTime: false, value: n, tags: { scenario: scenario.name } }),
          aborted: () => abortReason !== null,
        },
        vusOf[i] as VuHandle[],
      );
    }),
  );
  const seconds = (Date.now() - testStart) / 1000;
  const teardown = await within(teardownMs, "teardown()", setupVu, setupVu.call("teardown", data));
  if (!teardown.ok) log(`teardown() failed: ${teardown.error}`);
  all.forEach((v) => v.terminate());

  const thresholds = evaluateThresholds((options.thresholds as Record<string, never[]>) ?? {}, store, seconds, declared);
  const code = abortReason ? EXIT.aborted : thresholds.some((t) => !t.ok) ? EXIT.thresholds : EXIT.ok;
  if (abortReason) log(`test aborted: ${abortReason}`);
  return { code, thresholds, store, seconds, iterations, errors };
}

function fmt(v: number | null, isTime: boolean): string {
  if (v === null) return "–";
  return isTime ? `${v.toFixed(2)}ms` : Number.isInteger(v) ? String(v) : v.toFixed(4);
}

function summarize(o: Outcome): { lines: string[]; json: unknown } {
  const lines: string[] = [];
  const metrics: Record<string, Record<string, number | null>> = {};
  for (const [name, s] of [...o.store.series.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const aggs = s.type === "trend" ? ["count", "avg", "min", "med", "p(90)", "p(99)", "max"] : s.type === "counter" ? ["count", "rate"] : s.type === "rate" ? ["rate"] : ["value"];
    const values = Object.fromEntries(aggs.map((a) => [a, aggregate(s.type, s.values, a, o.seconds)]));
    metrics[name] = values;
    lines.push(`  ${name.padEnd(30, ".")} ${aggs.map((a) => `${a}=${fmt(values[a]!, s.isTime && a !== "count")}`).join(" ")}`);
  }
  lines.unshift("", `  iterations: ${o.iterations.ok} complete, ${o.iterations.failed} failed, ${o.iterations.interrupted} interrupted; ${o.seconds.toFixed(1)} s`, "");
  lines.push("", "  thresholds:");
  for (const t of o.thresholds) lines.push(`    ${t.ok ? "✓" : "✗"} ${t.key}: ${t.expression} (${t.actual === null ? "no samples" : fmt(t.actual, false)})`);
  const checks = o.store.series.get("checks");
  if (checks) {
    const failed = new Map<string, number>();
    checks.values.forEach((v, i) => v === 0 && failed.set(checks.tags[i]!.check ?? "?", (failed.get(checks.tags[i]!.check ?? "?") ?? 0) + 1));
    for (const [name, n] of failed) lines.push(`    failed check "${name}": ${n}×`);
  }
  return { lines, json: { exitCode: o.code, seconds: o.seconds, iterations: o.iterations, thresholds: o.thresholds, metrics, errors: Object.fromEntries(o.errors) } };
}

if (import.meta.main) {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(EXIT.invalidConfig);
  }
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...args.env };
  const outcome = await runScript(args.script, env, process.env.SSL_CERT_FILE, console.log, process.env);
  const { lines, json } = summarize(outcome);
  console.log(lines.join("\n"));
  if (args.summaryJson) writeFileSync(args.summaryJson, JSON.stringify(json, null, 2));
  console.log(`\n  exit code ${outcome.code}${outcome.code === EXIT.thresholds ? " (thresholds failed)" : ""}`);
  process.exit(outcome.code);
}
