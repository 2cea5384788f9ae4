/**
 * Groups the self time of a Bun CPU profile in markdown (`--cpu-prof-md`, see BENCH_PROFILE=1)
 * by where the code lives: a package in node_modules, a directory of this repository, or native.
 *
 *   bun bench/profile-summary.ts .tmp/bench/profiles/CPU.*.md
 */
import { readFileSync } from "node:fs";

export function summarize(markdown: string): { group: string; selfPct: number }[] {
  const section = markdown.split("## Hot Functions (Self Time)")[1]?.split("\n## ")[0] ?? "";
  const groups = new Map<string, number>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 7 || !cells[1]?.endsWith("%")) continue;
    const self = Number(cells[1].replace("%", ""));
    if (!Number.isFinite(self)) continue;
    const where = (cells[6] ?? "").replace(/`/g, "");
    let group = "other";
    const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
    if (nm) group = nm[1]!;
    else if (where.includes("[native code]")) group = `native: ${(cells[5] ?? "").replace(/`/g, "")}`;
    else if (/\/work\/[^/]+\/[^/]+\/|\/(services|shared|bench)\//.test(where)) group = where.replace(/^.*?\/(services\/[^/]+|shared\/src\/[^/]+(?:\/[^/]+)?|bench\/[^/]+)\/.*$/, "$1");
    else if (where.startsWith("node:") || where.startsWith("internal:")) group = "node compat (streams, net, events)";
    groups.set(group, (groups.get(group) ?? 0) + self);
  }
  return [...groups].map(([group, selfPct]) => ({ group, selfPct })).sort((a, b) => b.selfPct - a.selfPct);
}

if (import.meta.main) {
  for (const file of process.argv.slice(2)) {
    const text = readFileSync(file, "utf8");
    const head = /\| ([\d.]+m?s) \| (\d+) \|/.exec(text);
    console.log(`${file}: ${head ? `${head[1]}, ${head[2]} samples` : ""}`);
    for (const g of summarize(text).slice(0, 15)) console.log(`  ${g.selfPct.toFixed(1).padStart(5)}%  ${g.group}`);
  }
}
