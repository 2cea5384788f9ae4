/**
 * bench/chat/replica-cpu.ts: how much CPU the chat replicas use per offered rate, from idle up, and
 * their RSS after each step — for A/B runs of a runtime setting (the replicas inherit this process'
 * environment), e.g. `MIMALLOC_PURGE_DELAY=-1 bun bench/chat/replica-cpu.ts`.
 *
 *   BENCH_CPU_RATES=500,1000,3000,5000 (default), BENCH_CPU_SECONDS=5 per rate,
 *   BENCH_CPU_STRACE=1: `strace -c` on the first replica during each step (.tmp/bench/strace-<rate>.txt;
 *   it slows that replica down, so compare counts, not CPU, in such a run).
 *
 * 1,000 members, one socket each, over 3 replicas, as bench/chat. No warm-up: the first step is a
 * cold process. Prints one line per step, with what Postgres and Redis spent per message too (every
 * postgres and redis-server process of the machine: run it on a quiet one); writes nothing else.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { dropBenchDatabase, freshBenchEnvironment } from "../lib/env.ts";
import { busyShare, machineCpu, pidsByComm, rssBytes, totalCpuSeconds } from "../lib/proc.ts";
import { ROOT } from "../lib/procs.ts";
import { openConversations, ORIGIN, seedMembers } from "../lib/seed.ts";
import { LoadGenerator } from "./loadgen.ts";

const RATES = (process.env.BENCH_CPU_RATES ?? "500,1000,3000,5000").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_CPU_SECONDS ?? 5);
const STRACE = process.env.BENCH_CPU_STRACE === "1";

await freshBenchEnvironment();
const { startStack } = await import("../../tests/harness/stack.ts");
const stack = await startStack({ chatReplicas: 3, env: { NODE_ENV: "production", LOG_LEVEL: "warn", CHAT_RATE_PER_SECOND: "10000", CHAT_RATE_BURST: "20000" } });
const gen = { g: null as LoadGenerator | null };
try {
  const members = await seedMembers(1000);
  const conversations = await openConversations(stack.api.url, members, 2);
  const g = (gen.g = new LoadGenerator({
    system: "xplicit",
    urls: stack.chats.map((c) => `ws://127.0.0.1:${c.port}/ws`),
    members: members.map((m) => ({ id: m.id, cookie: m.cookie })),
    conversations: conversations.map((c) => ({ id: c.id, members: c.members })),
    origin: ORIGIN,
  }));
  await g.connect();
  const pids = stack.chats.map((c) => c.proc.pid);
  const rss = () => pids.map((p) => (rssBytes(p) / 2 ** 20).toFixed(0)).join(", ");
  /** CPU seconds the replicas used during `work`, and the same per second of it (cores) */
  const cpuDuring = async (work: () => Promise<unknown>) => {
    const c0 = totalCpuSeconds(pids);
    const t0 = performance.now();
    await work();
    const seconds = totalCpuSeconds(pids) - c0;
    return { seconds, cores: seconds / ((performance.now() - t0) / 1000) };
  };
  const env = Object.entries(process.env).filter(([k]) => /^(MIMALLOC_|JSC_|BUN_JSC_)/.test(k)).map(([k, v]) => `${k}=${v}`);
  console.log(`replica-cpu: 3 replicas, 1000 sockets, ${SECONDS} s per rate; runtime settings: ${env.join(" ") || "defaults"}`);
  await Bun.sleep(3000);
  console.log(`idle: replicas ${(await cpuDuring(() => Bun.sleep(SECONDS * 1000))).cores.toFixed(3)} cores, RSS ${rss()} MiB`);
  mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
  for (const rate of RATES) {
    const trace = STRACE ? Bun.spawn(["timeout", "-s", "INT", String(SECONDS - 1), "strace", "-c", "-f", "-o", join(ROOT, ".tmp", "bench", `strace-${rate}.txt`), "-p", String(pids[0])], { stdout: "ignore", stderr: "ignore" }) : null;
    const m0 = machineCpu();
    const backing = { postgres: pidsByComm("postgres"), redis: pidsByComm("redis-server") };
    const pg0 = totalCpuSeconds(backing.postgres);
    const redis0 = totalCpuSeconds(backing.redis);
    const used = await cpuDuring(() => g.send(rate, SECONDS, 1));
    const busy = busyShare(m0, machineCpu());
    const perMessageOf = (seconds: number) => ((seconds * 1e6) / (rate * SECONDS)).toFixed(0);
    const pgPerMessage = perMessageOf(totalCpuSeconds(backing.postgres) - pg0);
    const redisPerMessage = perMessageOf(totalCpuSeconds(backing.redis) - redis0);
    await trace?.exited;
    const r = g.result();
    await Bun.sleep(4000);
    // (the window includes the 1 s drain: what the replicas spent on the step's messages)
    console.log(`${rate}/s: replicas ${used.cores.toFixed(3)} cores, ${perMessageOf(used.seconds)} µs per message (Postgres ${pgPerMessage}, Redis ${redisPerMessage}), p50 ${r.p50} p99 ${r.p99} ms, lost ${r.lost}; machine ${(100 * busy).toFixed(0)} % busy; RSS 4 s later ${rss()} MiB`);
  }
} finally {
  gen.g?.close();
  await stack.stop();
  await dropBenchDatabase();
}
process.exit(0);
