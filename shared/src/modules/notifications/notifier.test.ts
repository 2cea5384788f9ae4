/** The producer's queues while Redis is away: errors are the connection's log lines, not stack traces. */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

test("a notifier whose Redis cannot be reached prints no stack traces, only the connection's JSON lines", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xplicit-notifier-"));
  try {
    const script = join(dir, "notifier-away.ts");
    writeFileSync(script, `
      import { createRedis } from ${JSON.stringify(resolve(import.meta.dir, "../../redis/index.ts"))};
      import { createNotifier } from ${JSON.stringify(resolve(import.meta.dir, "index.ts"))};
      const redis = createRedis("redis://127.0.0.1:1", "away");
      createNotifier({ redis, prefix: "away:bull" });
      await Bun.sleep(1500);
      process.exit(0);
    `);
    const proc = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    const lines = (out + err).split("\n").filter((l) => l.trim() !== "");
    expect(lines.length).toBeGreaterThan(0); // the connection said so
    expect(lines.filter((l) => !l.startsWith("{"))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
