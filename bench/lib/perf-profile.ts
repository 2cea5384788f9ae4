/**
 * Where the machine's CPU goes during one benchmark step, from Linux `perf` sampling every process
 * (kernel included) at a fixed rate. Unlike Bun's own profiler, which counts idle wall time against
 * the last native frame, a sample here is CPU actually spent. Samples are grouped by the processes
 * a benchmark names (the system under test, the generator) and by command name (Postgres, Redis),
 * and each group is split into native code, JIT-compiled JavaScript and the kernel.
 */
import { spawn, spawnSync, type Subprocess } from "bun";

/** Samples per second per CPU: low enough not to disturb the step (well under 1 % of a core). */
export const PERF_HZ = 499;

export interface ProfileGroup {
  name: string;
  pids?: number[];
  /** command names (perf's `comm`) that belong to the group, e.g. "postgres" */
  comms?: string[];
}

export interface ProfileRow {
  group: string;
  /** CPU microseconds per message over the recorded window */
  usPerMsg: number;
  kernel: number;
  jit: number;
  /** the group's heaviest named symbols, share of the group's samples */
  top: { symbol: string; share: number }[];
}

export function perfAvailable(): boolean {
  try {
    return spawnSync(["perf", "--version"]).exitCode === 0;
  } catch {
    return false;
  }
}

/** Starts recording the whole machine for `seconds` (no call graphs: only where, not how we got there). */
export function startPerf(file: string, seconds: number): Subprocess {
  return spawn(["perf", "record", "-a", "-q", "-F", String(PERF_HZ), "-o", file, "--", "sleep", String(seconds)], {
    stdout: "ignore",
    stderr: "ignore",
  });
}

interface Tally {
  samples: number;
  kernel: number;
  jit: number;
  symbols: Map<string, number>;
}

/** JIT code is anonymous executable memory: perf names it after a map file the VM never wrote. */
function isJit(dso: string): boolean {
  return dso.startsWith("[JIT]") || dso.startsWith("//anon") || /^\/tmp\/perf-\d+\.map$/.test(dso);
}

const LINE = /^\s*(.+?)\s+(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/;

/** Groups the recording's samples; `messages` is how many messages were sent while it recorded. */
export function summarizePerf(file: string, groups: ProfileGroup[], messages: number): ProfileRow[] {
  const out = spawnSync(["perf", "script", "-i", file, "-F", "comm,pid,ip,sym,dso"], { stdout: "pipe", stderr: "ignore", maxBuffer: 1 << 30 });
  const tallies = new Map<string, Tally>();
  const groupOf = (comm: string, pid: number): string => {
    for (const g of groups) if (g.pids?.includes(pid) || g.comms?.includes(comm)) return g.name;
    return "other";
  };
  for (const line of out.stdout.toString().split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, comm, pidText, symbol, dso] = m as unknown as [string, string, string, string, string];
    const pid = Number(pidText);
    if (pid === 0) continue; // the idle task
    const name = groupOf(comm, pid);
    let t = tallies.get(name);
    if (!t) tallies.set(name, (t = { samples: 0, kernel: 0, jit: 0, symbols: new Map() }));
    t.samples++;
    if (dso.includes("kernel")) t.kernel++;
    if (isJit(dso)) t.jit++;
    const label = symbol === "[unknown]" || /^0x/.test(symbol) ? null : symbol;
    if (label) t.symbols.set(label, (t.symbols.get(label) ?? 0) + 1);
  }
  const usPerSample = 1e6 / PERF_HZ;
  return [...groups.map((g) => g.name), "other"]
    .filter((name) => tallies.has(name))
    .map((name) => {
      const t = tallies.get(name)!;
      const top = [...t.symbols.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([symbol, n]) => ({ symbol, share: n / t.samples }));
      return {
        group: name,
        usPerMsg: (t.samples * usPerSample) / Math.max(1, messages),
        kernel: t.kernel / t.samples,
        jit: t.jit / t.samples,
        top,
      };
    });
}
