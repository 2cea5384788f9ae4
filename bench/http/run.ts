/**
 * bench/http: the notifications list (20 newest of a member with 200 notifications) and a profile
 * read, straight to the api and through nginx with TLS (keep-alive on both legs), measured with
 * wrk when installed (`apt-get install -y wrk`), else with a keep-alive Bun client. The two paths
 * are interleaved and repeated; medians are reported. nginx's per-IP api rate limit would turn a
 * one-client benchmark into a 429 benchmark, so this run raises it (EDGE_API_PER_SECOND).
 *
 * The notifications list is measured at each of BENCH_HTTP_CONNECTIONS (a closed loop: latency
 * grows with the connections kept busy, so one count alone says little about p99 at a rate); the
 * profile read at the largest.
 *
 *   bun bench/http/run.ts          # BENCH_HTTP_SECONDS=4 BENCH_HTTP_REPS=3 BENCH_HTTP_CONNECTIONS=32,64
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { freshBenchEnvironment, dropBenchDatabase, benchDatabaseUrl } from "../lib/env.ts";
import { ROOT } from "../lib/procs.ts";
import { seedMembers } from "../lib/seed.ts";
import { pidsByComm, totalCpuSeconds } from "../lib/proc.ts";
import { median, percentile } from "../lib/stats.ts";

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 4);
const REPS = Number(process.env.BENCH_HTTP_REPS ?? 3);
const CONNECTIONS = (process.env.BENCH_HTTP_CONNECTIONS ?? "32,64").split(",").map(Number).sort((a, b) => a - b);
if (CONNECTIONS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("BENCH_HTTP_CONNECTIONS: positive integers, comma-separated");
const MOST = CONNECTIONS.at(-1)!;
const NOTIFICATIONS = 200;

export interface HttpRow {
  endpoint: string;
  path: "direct" | "nginx+TLS";
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  tool: string;
  /** CPU µs per request by process group (median of the repetitions), the client included */
  cpuUs: Record<string, number>;
}

export interface HttpReport {
  seconds: number;
  reps: number;
  connections: number[];
  tool: string;
  nginxWorkers: string;
  rows: HttpRow[];
}

function log(msg: string): void {
  process.stderr.write(`[bench:http] ${msg}\n`);
}

/** wrk's latency figure ("1.23ms", "850.00us", "1.02s") in ms. */
function wrkMs(text: string): number {
  const m = /([\d.]+)(us|ms|s)\b/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU seconds the load client used (wrk's rusage; the fetch client's share of this process) */
  clientCpu: number;
}

/** The processes on a request's path, by group, so each run can say who spent the CPU. */
type Groups = Record<string, () => number[]>;

function cpuByGroup(groups: Groups): Record<string, number> {
  return Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, totalCpuSeconds(pids())]));
}

async function runWrk(url: string, cookie: string, connections: number): Promise<Measured> {
  const proc = Bun.spawn(["wrk", "-t2", `-c${connections}`, `-d${SECONDS}s`, "--latency", "-H", `Cookie: ${cookie}`, url], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const usage = proc.resourceUsage();
  const clientCpu = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : NaN;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  if (!Number.isFinite(rps) || rps <= 0) throw new Error(`wrk's output has no request rate: ${out.slice(0, 300)}${await new Response(proc.stderr).text()}`);
  const p50 = wrkMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? "");
  const p99 = wrkMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "");
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50, p99, errors, clientCpu };
}

async function runFetch(url: string, cookie: string, tls: Record<string, unknown> | undefined, connections: number): Promise<Measured> {
  const lat: number[] = [];
  const cpuBefore = process.cpuUsage();
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const res = await fetch(url, { headers: { cookie }, tls } as never);
        await res.arrayBuffer();
        if (res.status !== 200) errors++;
        lat.push(performance.now() - t);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const cpu = process.cpuUsage(cpuBefore);
  return { rps: lat.length / SECONDS, p50: percentile(lat, 50), p99: percentile(lat, 99), errors, clientCpu: (cpu.user + cpu.system) / 1e6 };
}

export async function runHttpBench(): Promise<HttpReport> {
  const tool = Bun.which("wrk") ? "wrk" : "bun-fetch";
  await freshBenchEnvironment();
  const { startStack } = await import("../../tests/harness/stack.ts");
  const { startEdge } = await import("../../tests/harness/edge.ts");
  const stack = await startStack({
    chatReplicas: 0,
    env: {
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      DATABASE_POOL_SIZE: "10",
      // (an A/B of the api's session memo: SESSION_MEMO_MS=0 bun bench/http/run.ts)
      ...(process.env.SESSION_MEMO_MS ? { SESSION_MEMO_MS: process.env.SESSION_MEMO_MS } : {}),
      ...(process.env.BENCH_PROFILE ? { BUN_OPTIONS: `--cpu-prof-md --cpu-prof-dir=${join(ROOT, ".tmp", "bench", "profiles")}` } : {}),
    },
  });
  const workers = process.env.BENCH_NGINX_WORKERS ?? "auto";
  let edge: Awaited<ReturnType<typeof startEdge>> | null = null;
  try {
    const members = await seedMembers(101, "h");
    const target = members[0]!;
    // 200 notifications from 100 different actors (direct rows; the write path is benchmarked in bench/notifications).
    const sql = postgres(benchDatabaseUrl(), { max: 1, onnotice: () => {} });
    try {
      await sql`
        insert into notifications (user_id, type, actor_id, dedupe_key, created_at)
        select ${target.id}::bigint, 'follow', (${members.map((m) => m.id).slice(1)}::bigint[])[1 + (g % 100)], 'bench:' || g, now() - make_interval(secs => g)
        from generate_series(1, ${NOTIFICATIONS}) g`;
    } finally {
      await sql.end({ timeout: 1 });
    }
    edge = await startEdge({
      apiPort: stack.api.port,
      chatPorts: [],
      env: { EDGE_API_PER_SECOND: "1000000", EDGE_API_BURST: "100000", NGINX_WORKER_PROCESSES: workers },
    }).catch((err: Error) => {
      log(`nginx: ${err.message.slice(0, 500)}`);
      return null;
    });
    if (!edge) log("nginx could not start: only the direct path is measured");
    else log(`nginx on ${edge.url}`);
    const cases: { endpoint: string; path: string; connections: number[] }[] = [
      { endpoint: "GET /api/notifications?limit=20", path: "/api/notifications?limit=20", connections: CONNECTIONS },
      { endpoint: "GET /api/users/:handle", path: `/api/users/${members[1]!.handle}`, connections: [MOST] },
    ];
    for (const c of cases) {
      const check = await fetch(`${stack.api.url}${c.path}`, { headers: { cookie: target.cookie } });
      if (check.status !== 200) throw new Error(`${c.endpoint}: ${check.status} ${await check.text()}`);
    }
    const apiPid = stack.api.proc.pid;
    const groups: Groups = { api: () => [apiPid], nginx: () => pidsByComm("nginx"), postgres: () => pidsByComm("postgres"), redis: () => pidsByComm("redis-server") };
    const samples = new Map<string, (Measured & { cpuUs: Record<string, number> })[]>();
    for (let rep = 0; rep < REPS; rep++) {
      for (const c of cases) {
        const targets: ["direct" | "nginx+TLS", string, number][] = [];
        for (const n of c.connections) {
          targets.push(["direct", `${stack.api.url}${c.path}`, n]);
          if (edge) targets.push(["nginx+TLS", `${edge.url}${c.path}`, n]);
        }
        if (rep % 2) targets.reverse();
        for (const [path, url, connections] of targets) {
          const before = cpuByGroup(groups);
          const m = tool === "wrk" ? await runWrk(url, target.cookie, connections) : await runFetch(url, target.cookie, path === "direct" ? undefined : { rejectUnauthorized: false }, connections);
          const after = cpuByGroup(groups);
          const requests = m.rps * SECONDS;
          const perRequest = (s: number) => Math.round((s / requests) * 1e6);
          const cpuUs: Record<string, number> = { client: perRequest(m.clientCpu) };
          for (const g of Object.keys(groups)) if (path !== "direct" || g !== "nginx") cpuUs[g] = perRequest(after[g]! - before[g]!);
          const r = { ...m, cpuUs };
          log(`${c.endpoint} ${path} ×${connections} rep ${rep + 1}: ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms errors ${r.errors} CPU µs/req ${JSON.stringify(cpuUs)}`);
          const key = `${c.endpoint}|${path}|${connections}`;
          if (!samples.has(key)) samples.set(key, []);
          samples.get(key)!.push(r);
        }
      }
    }
    const rows: HttpRow[] = [];
    for (const [key, s] of samples) {
      const [endpoint, path, connections] = key.split("|") as [string, "direct" | "nginx+TLS", string];
      const cpuUs = Object.fromEntries(Object.keys(s[0]!.cpuUs).map((g) => [g, median(s.map((x) => x.cpuUs[g]!))]));
      rows.push({ endpoint, path, connections: Number(connections), rps: median(s.map((x) => x.rps)), p50: median(s.map((x) => x.p50)), p99: median(s.map((x) => x.p99)), errors: s.reduce((a, x) => a + x.errors, 0), tool, cpuUs });
    }
    const report: HttpReport = { seconds: SECONDS, reps: REPS, connections: CONNECTIONS, tool, nginxWorkers: workers, rows };
    mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
    writeFileSync(join(ROOT, ".tmp", "bench", "http.json"), JSON.stringify(report, null, 2));
    for (const r of rows) console.log([r.endpoint, r.path, `×${r.connections}`, `${r.rps.toFixed(0)} req/s`, `p50 ${r.p50.toFixed(2)} ms`, `p99 ${r.p99.toFixed(2)} ms`, `errors ${r.errors}`, `CPU µs/req ${JSON.stringify(r.cpuUs)}`].join("\t"));
    return report;
  } finally {
    await edge?.stop();
    if (process.env.BENCH_PROFILE) await stack.kill(stack.api, "SIGTERM");
    await stack.stop();
    await dropBenchDatabase();
  }
}

if (import.meta.main) {
  await runHttpBench();
  process.exit(0);
}
