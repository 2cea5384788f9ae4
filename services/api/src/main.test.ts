/** The api process started while Postgres is away: it waits for it, then migrates and listens. */
import { expect, test } from "bun:test";
import net from "node:net";
import { freePort } from "../../../tests/harness/stack.ts";

/** A TCP relay on `port` to the test run's Postgres, opened only when asked: Postgres "coming back". */
function postgresComingBackOn(port: number) {
  const target = new URL(process.env.DATABASE_URL!);
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return { open: () => new Promise<void>((r) => server.listen(port, "127.0.0.1", r)), close: () => server.close() };
}

test("an api started while Postgres refuses connections waits for it, then migrates and serves (it used to exit at once)", async () => {
  const [pgPort, apiPort] = [await freePort(), await freePort()];
  const url = new URL(process.env.DATABASE_URL!);
  url.host = `127.0.0.1:${pgPort}`;
  const proc = Bun.spawn([process.execPath, "services/api/src/main.ts"], {
    cwd: new URL("../../..", import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: url.href, API_PORT: String(apiPort), LOG_LEVEL: "warn" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const postgres = postgresComingBackOn(pgPort);
  try {
    const exited = await Promise.race([proc.exited, Bun.sleep(3_000).then(() => null)]);
    expect(exited).toBeNull();
    await postgres.open();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${apiPort}/readyz`).then((r) => r.status, () => 0);
      if (status !== 200) await Bun.sleep(100);
    }
    expect(status).toBe(200);
  } finally {
    proc.kill();
    await proc.exited;
    postgres.close();
  }
  const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
  expect(out).toContain("Postgres unavailable at start: waiting for it to apply the migrations");
}, 30_000);
