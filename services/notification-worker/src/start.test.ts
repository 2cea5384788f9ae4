/** The worker process started while Postgres is away: it waits for it instead of exiting. */
import { expect, test } from "bun:test";
import { freePort } from "../../../tests/harness/stack.ts";

test("a worker started while Postgres refuses connections waits for it (a crash loop made npm start stop the whole stack)", async () => {
  const proc = Bun.spawn([process.execPath, "services/notification-worker/src/main.ts"], {
    cwd: new URL("../../..", import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, WORKER_PORT: String(await freePort()), LOG_LEVEL: "warn" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const exited = await Promise.race([proc.exited, Bun.sleep(6_000).then(() => null)]);
  proc.kill();
  await proc.exited;
  const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
  expect({ exited, waiting: out.includes("Postgres unavailable at start: waiting") }).toEqual({ exited: null, waiting: true });
}, 20_000);
