/**
 * Process accounting from /proc: CPU seconds (utime + stime) and resident memory of the server
 * processes a benchmark measures, and a description of the machine for the report.
 */
import { readFileSync, readdirSync } from "node:fs";
import { cpus, totalmem } from "node:os";

const TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process, in seconds; 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces: the fields after the closing paren are fixed.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / TICKS;
  } catch {
    return 0;
  }
}

export function totalCpuSeconds(pids: number[]): number {
  return pids.reduce((s, p) => s + cpuSeconds(p), 0);
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Whole-machine CPU time (all cores, busy and idle) in seconds, to show how loaded the box was. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / TICKS, total: total / TICKS };
}

/** The share of the machine's CPU time that was busy between two `machineCpu()` readings. */
export function busyShare(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  return (after.busy - before.busy) / Math.max(1e-9, after.total - before.total);
}

/**
 * Machine-wide major page faults so far (/proc/vmstat): a page that had to be read back from disk.
 * A host that reclaims idle guest memory (a DAMON `pageout` scheme, say) makes them appear in
 * processes that never swap, and each one stalls its process on the disk.
 */
export function majorFaults(): number {
  return Number(/^pgmajfault (\d+)$/m.exec(readFileSync("/proc/vmstat", "utf8"))?.[1] ?? 0);
}

export function pidsByComm(name: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === name) out.push(Number(d));
    } catch {}
  }
  return out;
}

export function machineDescription(): string {
  const c = cpus();
  const model = c[0]?.model ?? "unknown CPU";
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {}
  return `${c.length} × ${model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${kernel}, Bun ${Bun.version}, Node ${Bun.spawnSync(["node", "--version"]).stdout.toString().trim()} (socket.io relay)`;
}
