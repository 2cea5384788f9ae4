/**
 * bench/connections: resident memory per idle, authenticated connection on ONE chat replica
 * (cookie checked on upgrade, hello → welcome → synced done, then silence), at several socket
 * counts, next to the floor relay (bare Bun WebSocket + Redis subscription per member) measured in
 * the same run with the same clients. Per-connection figure = (RSS with N sockets − RSS with the
 * warm-up sockets) / (N − warm-up), read once RSS has stopped moving (< 1 % over 2 s, 10–15 s after
 * the last socket: idle means after the collector has had its go at what connecting left). Each system is measured REPS times, each
 * time in a freshly started process (when the server collects its garbage varies from run to run),
 * and the median is reported with every repetition's figure.
 *
 * Limits of this machine: the hard `ulimit -n` bounds the sockets one process can hold (server and
 * generator alike); 50k sockets on one replica needs a hard limit above 50k and, from one client
 * host, several source addresses (127.0.0.x) because one source IP has only
 * ip_local_port_range ports towards one server port. Steps above the limit are reported as not run.
 *
 *   bun bench/connections/run.ts                   # BENCH_CONN_STEPS=10000,50000 by default
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { freshBenchEnvironment, dropBenchDatabase } from "../lib/env.ts";
import { rssBytes } from "../lib/proc.ts";
import { freePort, spawnServer, stopAll, ROOT, type Spawned } from "../lib/procs.ts";
import { seedMembers, ORIGIN } from "../lib/seed.ts";
import { LoadGenerator } from "../chat/loadgen.ts";

const STEPS = (process.env.BENCH_CONN_STEPS ?? "10000,50000").split(",").map(Number);
const WARMUP = 200;
// Idle means settled: RSS is read once it has stopped moving (the collector has had its go at the
// garbage that connecting left behind), at least MIN and at most MAX after the last socket.
const SETTLE_MIN_MS = Number(process.env.BENCH_CONN_SETTLE_MS ?? 10_000);
const SETTLE_MAX_MS = Number(process.env.BENCH_CONN_SETTLE_MAX_MS ?? 15_000);
const REPS = Number(process.env.BENCH_CONN_REPS ?? 3);

export interface ConnRow {
  system: "xplicit" | "floor";
  sockets: number;
  rssBaseMiB: number;
  rssMiB: number;
  bytesPerConnection: number;
  /** JS heap (process.memoryUsage().heapUsed from the replica's /status) per connection; NaN for the floor */
  heapBytesPerConnection: number;
  /** bytes per connection in each repetition (the row holds their median) */
  samples: number[];
  ran: boolean;
  note: string;
}

export interface ConnReport {
  fdLimit: { soft: number; hard: number };
  portRange: string;
  rows: ConnRow[];
}

function log(msg: string): void {
  process.stderr.write(`[bench:connections] ${msg}\n`);
}

function fdLimits(): { soft: number; hard: number } {
  const text = readFileSync("/proc/self/limits", "utf8");
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(text);
  const n = (s: string | undefined) => (s === "unlimited" || !s ? Infinity : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

async function heapUsed(statusUrl: string | null): Promise<number> {
  if (!statusUrl) return NaN;
  try {
    const body = (await (await fetch(statusUrl)).json()) as any;
    return Number(body?.memory?.heapUsed ?? body?.process?.memory?.heapUsed ?? NaN);
  } catch {
    return NaN;
  }
}

/** RSS once it has moved less than 1 % over the last 2 s (sampled every 500 ms). */
async function settledRss(pid: number): Promise<number> {
  const t0 = performance.now();
  await Bun.sleep(SETTLE_MIN_MS);
  const window: number[] = [];
  for (;;) {
    window.push(rssBytes(pid));
    if (window.length > 4) window.shift();
    const spread = Math.max(...window) - Math.min(...window);
    if ((window.length === 4 && spread < 0.01 * window.at(-1)!) || performance.now() - t0 > SETTLE_MAX_MS) return window.at(-1)!;
    await Bun.sleep(500);
  }
}

async function measure(system: "xplicit" | "floor", url: string, statusUrl: string | null, pid: number, members: { id: string; cookie: string }[], steps: number[], limit: number): Promise<ConnRow[]> {
  const rows: ConnRow[] = [];
  const warm = new LoadGenerator({ system, urls: [url], members: members.slice(0, WARMUP), conversations: [], origin: ORIGIN, connectConcurrency: 32 });
  await warm.connect();
  Bun.gc(true);
  const base = await settledRss(pid);
  const heapBase = await heapUsed(statusUrl);
  let held: LoadGenerator[] = [warm];
  let have = WARMUP;
  for (const target of steps) {
    if (target > limit) {
      rows.push({ system, sockets: target, rssBaseMiB: base / 2 ** 20, rssMiB: NaN, bytesPerConnection: NaN, heapBytesPerConnection: NaN, samples: [], ran: false, note: `needs ${target} descriptors per process; hard limit here is ${limit + 300}` });
      continue;
    }
    const more = new LoadGenerator({ system, urls: [url], members: members.slice(have, target), conversations: [], origin: ORIGIN, connectConcurrency: 64 });
    const t = performance.now();
    await more.connect();
    const connectSeconds = (performance.now() - t) / 1000;
    held.push(more);
    have = target;
    const rss = await settledRss(pid);
    const per = (rss - base) / (target - WARMUP);
    const heapPer = ((await heapUsed(statusUrl)) - heapBase) / (target - WARMUP);
    log(`${system}: ${target} sockets (connected in ${connectSeconds.toFixed(1)} s): RSS ${(rss / 2 ** 20).toFixed(1)} MiB, ${(per / 1024).toFixed(2)} KiB per connection${Number.isFinite(heapPer) ? ` (JS heap ${(heapPer / 1024).toFixed(2)} KiB)` : ""}`);
    rows.push({ system, sockets: target, rssBaseMiB: base / 2 ** 20, rssMiB: rss / 2 ** 20, bytesPerConnection: per, heapBytesPerConnection: heapPer, samples: [per], ran: true, note: "" });
  }
  for (const g of held) g.close();
  held = [];
  await Bun.sleep(500);
  return rows;
}

/** One row per (system, sockets): the repetition with the median bytes per connection, every repetition's figure in `samples`. */
function medianRows(reps: ConnRow[][]): ConnRow[] {
  return reps[0]!.map((first, i) => {
    if (!first.ran) return first;
    const sorted = reps.map((r) => r[i]!).sort((a, b) => a.bytesPerConnection - b.bytesPerConnection);
    const mid = sorted[Math.floor(sorted.length / 2)]!;
    return { ...mid, samples: reps.map((r) => r[i]!.bytesPerConnection) };
  });
}

export async function runConnectionsBench(): Promise<ConnReport> {
  const limits = fdLimits();
  const portRange = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().replace(/\s+/, "–");
  // Descriptors: the generator holds one per socket, the server one per socket, plus a margin.
  const limit = Math.min(limits.soft, limits.hard) - 300;
  const runnable = STEPS.filter((s) => s <= limit);
  const maxMembers = Math.max(WARMUP, ...runnable);
  log(`fd limit soft ${limits.soft} hard ${limits.hard}; port range ${portRange}; seeding ${maxMembers} members`);
  await freshBenchEnvironment();
  const { startStack } = await import("../../tests/harness/stack.ts");
  const stack = await startStack({ chatReplicas: 1, env: { NODE_ENV: "production", LOG_LEVEL: "warn", CHAT_MAX_SOCKETS_PER_MEMBER: "16" } });
  const relays: Spawned[] = [];
  try {
    const members = (await seedMembers(maxMembers, "c")).map((m) => ({ id: m.id, cookie: m.cookie }));
    const chat = stack.chats[0]!;
    const convFile = join(ROOT, ".tmp", "bench", "conversations-empty.json");
    mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
    writeFileSync(convFile, "{}");
    const xplicitReps: ConnRow[][] = [];
    const floorReps: ConnRow[][] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      if (rep > 1) {
        await stack.kill(chat, "SIGKILL");
        await stack.restart(chat);
      }
      xplicitReps.push(await measure("xplicit", `ws://127.0.0.1:${chat.port}/ws`, `${chat.url}/status`, chat.proc.pid, members, STEPS, limit));
      const port = await freePort();
      const floor = await spawnServer("floor-conn", [process.execPath, "bench/chat/relays/floor.ts"], port, {
        BENCH_CONVERSATIONS: convFile,
        REDIS_PREFIX: process.env.REDIS_PREFIX!,
        FLOOR_PORT: String(port),
      });
      relays.push(floor);
      floorReps.push(await measure("floor", `ws://127.0.0.1:${port}/ws`, null, floor.proc.pid, members, STEPS, limit));
      await stopAll([floor]);
    }
    const rows = [...medianRows(xplicitReps), ...medianRows(floorReps)];
    const report: ConnReport = { fdLimit: limits, portRange, rows };
    writeFileSync(join(ROOT, ".tmp", "bench", "connections.json"), JSON.stringify(report, null, 2));
    for (const r of rows) {
      const each = r.samples.map((b) => (b / 1024).toFixed(2)).join(", ");
      console.log([r.system, r.sockets, r.ran ? `${(r.bytesPerConnection / 1024).toFixed(2)} KiB/conn (median of ${each})` : `not run: ${r.note}`].join("\t"));
    }
    return report;
  } finally {
    await stopAll(relays);
    await stack.stop();
    await dropBenchDatabase();
  }
}

if (import.meta.main) {
  await runConnectionsBench();
  process.exit(0);
}
