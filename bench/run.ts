/**
 * `npm run bench`: every benchmark in bench/ with its defaults (under 10 minutes on 2 cores: 595 s in
 * the last full run), then
 * docs/benchmarks.md and its charts. One failing benchmark does not stop the others; the report
 * says "Not run" for it. bench/notifications (issue 4) is run by its own script.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { machineDescription } from "./lib/proc.ts";
import { ROOT } from "./lib/procs.ts";
import { writeReport } from "./report.ts";

const started = performance.now();
const loadBefore = loadavg().map((x) => x.toFixed(2)).join(" ");
const machine = machineDescription();
const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
process.stderr.write(`[bench] ${machine}\n`);

mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
const only = process.env.BENCH_ONLY?.split(",");
const want = (name: string) => !only || only.includes(name);
let failed = 0;
async function step(name: string, fn: () => Promise<unknown>): Promise<void> {
  if (!want(name)) return;
  // A failed benchmark must not leave the previous run's figures in the report.
  rmSync(join(ROOT, ".tmp", "bench", `${name}.json`), { force: true });
  const t = performance.now();
  try {
    await fn();
  } catch (err) {
    failed++;
    process.stderr.write(`[bench] ${name} failed: ${(err as Error).stack ?? err}\n`);
  }
  process.stderr.write(`[bench] ${name}: ${((performance.now() - t) / 1000).toFixed(0)} s\n`);
}

await step("chat", async () => (await import("./chat/run.ts")).runChatBench());
await step("connections", async () => (await import("./connections/run.ts")).runConnectionsBench());
await step("http", async () => (await import("./http/run.ts")).runHttpBench());

const info = { machine, commit, date: new Date().toISOString(), durationS: (performance.now() - started) / 1000, loadBefore };
writeFileSync(join(ROOT, ".tmp", "bench", "run.json"), JSON.stringify(info, null, 2));
writeReport(info);
process.stderr.write(`[bench] done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
process.exit(failed ? 1 : 0);
