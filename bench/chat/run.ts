/**
 * bench/chat: the chat tier (3 replicas, persistence and acks on) side by side, in the same run,
 * with (a) the floor — a bare Bun WebSocket + Redis pub/sub relay — and (b) socket.io +
 * @socket.io/redis-adapter on Node, at several rates, MEMBERS members over 3 replicas each.
 * Steps are interleaved (rate by rate, system order rotated each repetition) so machine noise
 * hits all three alike; each (system, rate) is measured REPS times and the median reported.
 *
 *   bun bench/chat/run.ts                     # defaults below, ≈ 4–5 min on 2 cores
 *   BENCH_CHAT_RATES=1000,4000,8000 BENCH_CHAT_REPS=1 BENCH_CHAT_SECONDS=5 bun bench/chat/run.ts
 *
 * Writes .tmp/bench/chat.json (read by bench/report.ts) and prints a table.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import Redis from "ioredis";
import { join } from "node:path";
import { freshBenchEnvironment, postgresPids, redisPid, dropBenchDatabase } from "../lib/env.ts";
import { busyShare, cpuSeconds, totalCpuSeconds, machineCpu, majorFaults } from "../lib/proc.ts";
import { freePort, nodeBinary, spawnServer, stopAll, ROOT, type Spawned } from "../lib/procs.ts";
import { seedMembers, openConversations, ORIGIN } from "../lib/seed.ts";
import { median, fmt } from "../lib/stats.ts";
import { PERF_HZ, perfAvailable, startPerf, summarizePerf, type ProfileRow } from "../lib/perf-profile.ts";
import { LoadGenerator, type StepResult, type System } from "./loadgen.ts";
import { SATURATED_P99_MS, isSaturated, runsStep } from "./steps.ts";

const MEMBERS = Number(process.env.BENCH_CHAT_MEMBERS ?? 1000);
// Up to past where the floor is still fine on 2 cores (a ratio to a system that passed every rate
// tried is only a bound; its p99 at 24,000/s was 343 ms on the fastest day seen), down to where the
// slower 2-core machines this has run on are still fine, and 2,000 apart around the other systems' knees.
const RATES = (process.env.BENCH_CHAT_RATES ?? "2000,4000,6000,8000,10000,12000,16000,24000").split(",").map(Number);
const REPS = Number(process.env.BENCH_CHAT_REPS ?? 3);
const SECONDS = Number(process.env.BENCH_CHAT_SECONDS ?? 4);
// (a copy still missing after the drain is waited for anyway: the step ends when the system is idle)
const DRAIN = Number(process.env.BENCH_CHAT_DRAIN ?? 1);
const REPLICAS = 3;
const WARMUP_RATE = 6000;
/** One more step per system at this rate under `perf` (not counted in the tables); 0 turns it off. */
// below every system's knee on the slowest machine seen, so the profile is of work, not of a queue
const PROFILE_RATE = Number(process.env.BENCH_CHAT_PROFILE_RATE ?? 4000);
const PROFILE_SECONDS = 4;
const SYSTEMS_WANTED = (process.env.BENCH_CHAT_SYSTEMS ?? "xplicit,floor,socketio").split(",") as System[];

/** Waits until a system's server processes are idle again (a saturated step leaves a backlog that would steal the next step's CPU). */
async function quiesce(pids: number[], maxMs = 20_000): Promise<number> {
  const t0 = performance.now();
  let last = totalCpuSeconds(pids);
  for (;;) {
    await Bun.sleep(250);
    const now = totalCpuSeconds(pids);
    if (now - last < 0.02 || performance.now() - t0 > maxMs) return performance.now() - t0;
    last = now;
  }
}

export interface ChatRow {
  system: System;
  rate: number;
  reps: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
  /** copies not there when the drain window ended (late or lost) */
  late: number;
  duplicated: number;
  unacked: number;
  seqGaps: number;
  /** CPU seconds per 10k messages sent: the system's own server processes */
  cpuPer10k: number;
  /** … including Postgres (bench database) and Redis */
  cpuPer10kAll: number;
  generatorCpuPer10k: number;
  /** Redis commands processed per message sent — server-wide counter (Redis 7.0 has no per-client totals), so
   *  only meaningful on a Redis nobody else uses; kept in chat.json, not in the report */
  redisCmdsPerMsg: number;
  machineBusy: number;
  saturated: boolean;
}

export interface ChatReport {
  startedAt: string;
  members: number;
  replicas: number;
  rates: number[];
  reps: number;
  seconds: number;
  drain: number;
  rows: ChatRow[];
  /** median p99 past which a system skipped the higher rates */
  saturatedP99Ms: number;
  notes: string[];
  /** where the machine's CPU went during one extra step per system (bench/lib/perf-profile.ts) */
  profile?: { rate: number; seconds: number; hz: number; systems: Partial<Record<System, ProfileRow[]>> };
}

function log(msg: string): void {
  process.stderr.write(`[bench:chat] ${msg}\n`);
}

export async function runChatBench(): Promise<ChatReport> {
  const started = new Date().toISOString();
  log(`fresh database and Redis prefix`);
  await freshBenchEnvironment();
  const { startStack } = await import("../../tests/harness/stack.ts");
  const stack = await startStack({
    chatReplicas: REPLICAS,
    env: {
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      DATABASE_POOL_SIZE: process.env.BENCH_DB_POOL ?? "10",
      // The per-socket limits protect production; here one socket carries rate/members msgs/s.
      CHAT_RATE_PER_SECOND: "10000",
      CHAT_RATE_BURST: "20000",
      // BENCH_PROFILE=1: every service writes a CPU profile (markdown) when it exits.
      ...(process.env.BENCH_PROFILE ? { BUN_OPTIONS: `--cpu-prof-md --cpu-prof-dir=${join(ROOT, ".tmp", "bench", "profiles")}` } : {}),
    },
  });
  const relays: Spawned[] = [];
  const generators: LoadGenerator[] = [];
  try {
    log(`stack up: api ${stack.api.url}, chat ${stack.chats.map((c) => c.port).join(", ")}; seeding ${MEMBERS} members`);
    const members = await seedMembers(MEMBERS);
    const conversations = await openConversations(stack.api.url, members, 2);
    const convFile = join(ROOT, ".tmp", "bench", "conversations.json");
    mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
    writeFileSync(convFile, JSON.stringify(Object.fromEntries(conversations.map((c) => [c.id, c.members.map((i) => members[i]!.id)]))));

    const relayEnv = { BENCH_CONVERSATIONS: convFile, REDIS_PREFIX: process.env.REDIS_PREFIX!, REDIS_URL: process.env.REDIS_URL! };
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      relays.push(await spawnServer(`floor-${i + 1}`, [process.execPath, "bench/chat/relays/floor.ts"], port, { ...relayEnv, FLOOR_PORT: String(port) }));
    }
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      relays.push(await spawnServer(`socketio-${i + 1}`, [nodeBinary(), "bench/chat/relays/socketio.mjs"], port, { ...relayEnv, SIO_PORT: String(port) }));
    }
    const floor = relays.filter((r) => r.name.startsWith("floor"));
    const sio = relays.filter((r) => r.name.startsWith("socketio"));
    const loadMembers = members.map((m) => ({ id: m.id, cookie: m.cookie }));
    const convs = conversations.map((c) => ({ id: c.id, members: c.members }));
    const allGens: Record<System, LoadGenerator> = {
      xplicit: new LoadGenerator({ system: "xplicit", urls: stack.chats.map((c) => `ws://127.0.0.1:${c.port}/ws`), members: loadMembers, conversations: convs, origin: ORIGIN }),
      floor: new LoadGenerator({ system: "floor", urls: floor.map((r) => `ws://127.0.0.1:${r.port}/ws`), members: loadMembers, conversations: convs }),
      socketio: new LoadGenerator({ system: "socketio", urls: sio.map((r) => `ws://127.0.0.1:${r.port}`), members: loadMembers, conversations: convs }),
    };
    const gens = Object.fromEntries(Object.entries(allGens).filter(([k]) => SYSTEMS_WANTED.includes(k as System))) as Record<System, LoadGenerator>;
    generators.push(...Object.values(gens));
    for (const [name, g] of Object.entries(gens)) {
      const t = performance.now();
      await g.connect();
      log(`${name}: ${g.sockets.length} sockets connected in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const serverPids: Record<System, number[]> = {
      xplicit: stack.chats.map((c) => c.proc.pid),
      floor: floor.map((r) => r.proc.pid),
      socketio: sio.map((r) => r.proc.pid),
    };
    const rPid = await redisPid();
    const pgPids = await postgresPids();
    const shared = () => totalCpuSeconds(pgPids) + (rPid ? cpuSeconds(rPid) : 0);
    const statsRedis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
    const redisCommands = async () => Number(/total_commands_processed:(\d+)/.exec(await statsRedis.info("stats"))?.[1] ?? NaN);

    const order: System[] = (["xplicit", "floor", "socketio"] as System[]).filter((x) => SYSTEMS_WANTED.includes(x));
    // Warm-up: JIT (hot paths are compiled again as batches grow with the rate), pools, prepared
    // statements, a table that has pages to write into. A light warm-up alone left the first
    // measured steps up to 5x slower at p99 than the same rate measured again.
    for (const system of order) {
      for (const rate of [500, Math.min(WARMUP_RATE, Math.max(...RATES))]) {
        await gens[system].step(rate, 2, 1);
        await quiesce(serverPids[system]);
      }
    }

    const samples = new Map<string, Array<StepResult & { cpu: number; cpuAll: number; busy: number; redisCmds: number; majorFaults: number }>>();
    const saturated = new Set<System>();
    for (const rate of RATES) {
      for (let rep = 0; rep < REPS; rep++) {
        const rotated = order.slice(rep % 3).concat(order.slice(0, rep % 3));
        for (const system of rotated) {
          if (!runsStep(system, rate, saturated)) continue;
          const cmds0 = await redisCommands();
          const cpu0 = totalCpuSeconds(serverPids[system]);
          const shared0 = shared();
          const m0 = machineCpu();
          const faults0 = majorFaults();
          await gens[system].send(rate, SECONDS, DRAIN);
          const m1 = machineCpu();
          const majorFaultsInStep = majorFaults() - faults0;
          const cpu = totalCpuSeconds(serverPids[system]) - cpu0;
          const cpuAll = cpu + shared() - shared0;
          // A saturated system keeps working on its backlog: let it finish, then count what never came.
          const settleMs = await quiesce(serverPids[system]);
          await Bun.sleep(200);
          const r = gens[system].result();
          const redisCmds = (await redisCommands()) - cmds0;
          const busy = busyShare(m0, m1);
          const key = `${system}@${rate}`;
          if (!samples.has(key)) samples.set(key, []);
          samples.get(key)!.push({ ...r, cpu, cpuAll, busy, redisCmds, majorFaults: majorFaultsInStep });
          log(`${system.padEnd(8)} ${String(rate).padStart(6)}/s rep ${rep + 1}: delivered ${fmt(r.deliveredPerSec, 0)}/s p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} max ${fmt(r.max)} ms late ${r.lateAtDrain} lost ${r.lost} dup ${r.duplicated} unacked ${r.unacked} cpu ${cpu.toFixed(2)} s, generator ${r.generatorCpuS.toFixed(2)} s, machine ${(busy * 100).toFixed(0)}% busy, ${majorFaultsInStep} major faults${settleMs > 600 ? `, backlog drained in ${(settleMs / 1000).toFixed(1)} s` : ""}`);
        }
      }
      for (const system of order) {
        const s = samples.get(`${system}@${rate}`);
        if (s && isSaturated(s.map((x) => x.p99))) {
          saturated.add(system);
          log(`${system} saturated at ${rate}/s (p99 > ${SATURATED_P99_MS} ms): higher rates skipped`);
        }
      }
    }

    const profile = PROFILE_RATE > 0 && perfAvailable() ? await profileSteps(order, gens, serverPids) : undefined;

    const rows: ChatRow[] = [];
    for (const rate of RATES) {
      for (const system of order) {
        const s = samples.get(`${system}@${rate}`);
        if (!s) continue;
        const per10k = (x: { cpu: number; sent: number }) => (x.sent ? (x.cpu * 10_000) / x.sent : NaN);
        rows.push({
          system,
          rate,
          reps: s.length,
          deliveredPerSec: median(s.map((x) => x.deliveredPerSec)),
          p50: median(s.map((x) => x.p50)),
          p99: median(s.map((x) => x.p99)),
          max: Math.max(...s.map((x) => x.max)),
          lost: s.reduce((a, x) => a + x.lost, 0),
          late: s.reduce((a, x) => a + (x.lateAtDrain ?? 0), 0),
          duplicated: s.reduce((a, x) => a + x.duplicated, 0),
          unacked: s.reduce((a, x) => a + x.unacked, 0),
          seqGaps: s.reduce((a, x) => a + x.seqGaps, 0),
          cpuPer10k: median(s.map(per10k)),
          cpuPer10kAll: median(s.map((x) => per10k({ cpu: x.cpuAll, sent: x.sent }))),
          generatorCpuPer10k: median(s.map((x) => per10k({ cpu: x.generatorCpuS, sent: x.sent }))),
          machineBusy: median(s.map((x) => x.busy)),
          redisCmdsPerMsg: median(s.map((x) => (x.sent ? x.redisCmds / x.sent : NaN))),
          saturated: isSaturated(s.map((x) => x.p99)),
        });
      }
    }
    const report: ChatReport = {
      startedAt: started,
      members: MEMBERS,
      replicas: REPLICAS,
      rates: RATES,
      reps: REPS,
      seconds: SECONDS,
      drain: DRAIN,
      rows,
      saturatedP99Ms: SATURATED_P99_MS,
      notes: [],
      ...(profile ? { profile } : {}),
    };
    statsRedis.disconnect();
    writeFileSync(join(ROOT, ".tmp", "bench", "chat.json"), JSON.stringify(report, null, 2));
    printTable(rows);
    return report;
  } finally {
    for (const g of generators) g.close();
    await stopAll(relays);
    if (process.env.BENCH_PROFILE) {
      // Profiles are written on a clean exit: SIGTERM (drain) instead of SIGKILL.
      await Promise.all([...stack.chats, stack.api].map((p) => stack.kill(p, "SIGTERM")));
      log(`CPU profiles in ${join(ROOT, ".tmp", "bench", "profiles")}`);
    }
    await stack.stop();
    await dropBenchDatabase();
  }
}

const SERVER_GROUP: Record<System, string> = { xplicit: "chat replicas", floor: "floor relays", socketio: "socket.io relays" };

/**
 * After the measured steps: one step per system at PROFILE_RATE with the whole machine sampled,
 * grouped into the system's servers, the generator, Postgres, Redis and everything else.
 */
async function profileSteps(order: System[], gens: Record<System, LoadGenerator>, serverPids: Record<System, number[]>): Promise<ChatReport["profile"]> {
  const dir = join(ROOT, ".tmp", "bench", "perf");
  mkdirSync(dir, { recursive: true });
  const window = PROFILE_SECONDS - 1;
  const systems: Partial<Record<System, ProfileRow[]>> = {};
  for (const system of order) {
    const file = join(dir, `chat-${system}-${PROFILE_RATE}.data`);
    const sending = gens[system].send(PROFILE_RATE, PROFILE_SECONDS, 1);
    await Bun.sleep(500);
    const recorded = await startPerf(file, window).exited;
    await sending;
    if (recorded !== 0) {
      // perf is there but may not sample other processes (perf_event_paranoid, no CAP_PERFMON).
      log(`perf record failed (exit ${recorded}): no CPU profile`);
      await quiesce(serverPids[system]);
      return undefined;
    }
    await quiesce(serverPids[system]);
    const r = gens[system].result();
    systems[system] = summarizePerf(
      file,
      [
        { name: SERVER_GROUP[system], pids: serverPids[system] },
        { name: "generator", pids: [process.pid] },
        { name: "postgres", comms: ["postgres"] },
        { name: "redis", comms: ["redis-server"] },
      ],
      PROFILE_RATE * window,
    );
    log(`${system.padEnd(8)} ${String(PROFILE_RATE).padStart(6)}/s profiled (p99 ${fmt(r.p99)} ms): ${systems[system]!.map((g) => `${g.group} ${g.usPerMsg.toFixed(0)} µs/msg`).join(", ")}`);
  }
  return { rate: PROFILE_RATE, seconds: window, hz: PERF_HZ, systems };
}

export function printTable(rows: ChatRow[]): void {
  const head = ["system", "rate/s", "delivered/s", "p50 ms", "p99 ms", "max ms", "lost", "dup", "CPU s/10k", "CPU s/10k +pg+redis"];
  console.log(head.join("\t"));
  for (const r of rows) {
    console.log([r.system, r.rate, fmt(r.deliveredPerSec, 0), fmt(r.p50), fmt(r.p99), fmt(r.max, 0), r.lost, r.duplicated, fmt(r.cpuPer10k, 2), fmt(r.cpuPer10kAll, 2)].join("\t"));
  }
}

if (import.meta.main) {
  await runChatBench();
  process.exit(0);
}
