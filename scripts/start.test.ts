/**
 * `npm start` as an operator runs it: the whole stack comes up, a chat replica killed with SIGKILL is
 * started again while the rest stays up, nginx's master killed with SIGKILL is replaced (its orphaned
 * workers ended), and Ctrl-C (SIGINT) stops everything with exit 0.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../tests/harness/stack.ts";
import { waitFor } from "../tests/harness/edge.ts";

const REPO = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "xplicit-start-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function isFree(port: number): Promise<boolean> {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** CHAT_PORT whose next two ports (the replicas') are free too. */
async function chatBasePort(): Promise<number> {
  for (;;) {
    const base = await freePort();
    if ((await isFree(base + 1)) && (await isFree(base + 2))) return base;
  }
}

async function statusOf(port: number): Promise<{ pid: number } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? ((await res.json()) as { pid: number }) : null;
  } catch {
    return null;
  }
}

test("npm start restarts a killed chat replica and keeps the rest up; SIGINT stops it all", async () => {
  const chatBase = await chatBasePort();
  const [api, worker, https, http] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const launcher = Bun.spawn([process.execPath, "scripts/start.ts"], {
    cwd: REPO,
    env: {
      ...process.env,
      NODE_ENV: "development",
      LOG_LEVEL: "warn",
      API_PORT: String(api),
      CHAT_PORT: String(chatBase),
      WORKER_PORT: String(worker),
      NGINX_HTTPS_PORT: String(https),
      NGINX_HTTP_PORT: String(http),
      CERTS_DIR: join(dir, "certs"),
      NGINX_PREFIX_DIR: join(dir, "nginx"),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  void (async () => {
    const reader = (launcher.stdout as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) output += decoder.decode(r.value, { stream: true });
  })();
  try {
    await waitFor("the stack is up", async () => output.includes("Xplicit is up"), 90_000);
    const replica = chatBase + 1;
    const before = await statusOf(replica);
    expect(before).not.toBeNull();
    process.kill(before!.pid, "SIGKILL");

    await waitFor("chat-1 is back", async () => output.includes("chat-1 is back"), 30_000);
    const after = await statusOf(replica);
    expect(after?.pid).toBeGreaterThan(0);
    expect(after!.pid).not.toBe(before!.pid);
    expect(output).toContain("chat-1 exited (code SIGKILL); starting it again");
    expect(launcher.exitCode).toBeNull();
    // the other replica and the api never went away
    expect(await statusOf(chatBase + 2)).not.toBeNull();
    expect((await fetch(`http://127.0.0.1:${api}/readyz`)).status).toBe(200);

    // nginx's master killed: its workers, which keep the ports, are ended, and a new nginx serves
    // (they kept the ports and every restart failed to bind, until the whole stack stopped)
    const masterPid = Number(readFileSync(join(dir, "nginx", "nginx.pid"), "utf8").trim());
    await Bun.sleep(3500); // the launcher notes its children's processes every few seconds
    process.kill(masterPid, "SIGKILL");
    await waitFor("nginx to serve again", async () => {
      try {
        const res = await fetch(`https://localhost:${https}/nginx-healthz`, { tls: { rejectUnauthorized: false }, signal: AbortSignal.timeout(1000) } as RequestInit);
        return res.status === 200 && Number(readFileSync(join(dir, "nginx", "nginx.pid"), "utf8").trim()) !== masterPid;
      } catch {
        return false;
      }
    }, 30_000);
    expect(output).toContain("nginx: ended its orphaned process");
    expect(launcher.exitCode).toBeNull();
  } finally {
    launcher.kill("SIGINT");
  }
  expect(await launcher.exited).toBe(0);
  expect(await statusOf(chatBase + 1)).toBeNull();
}, 150_000);
