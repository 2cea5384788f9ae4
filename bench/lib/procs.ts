/** Spawning benchmark-only server processes (relays) and waiting until they answer. */
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const LOG_DIR = join(ROOT, ".tmp", "bench-logs");

export async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = server.port!;
  server.stop(true);
  return port;
}

export async function waitReady(url: string, proc: Subprocess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${url} exited with ${proc.exitCode} before it was ready (logs in ${LOG_DIR})`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {}
    await Bun.sleep(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

export interface Spawned {
  name: string;
  port: number;
  proc: Subprocess;
}

export async function spawnServer(name: string, cmd: string[], port: number, env: Record<string, string>): Promise<Spawned> {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = openSync(join(LOG_DIR, `${name}.log`), "w");
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: log, stderr: log });
  await waitReady(`http://127.0.0.1:${port}`, proc);
  return { name, port, proc };
}

export async function stopAll(list: Spawned[]): Promise<void> {
  for (const s of list) if (s.proc.exitCode === null) s.proc.kill("SIGKILL");
  await Promise.all(list.map((s) => s.proc.exited));
}

/** Path of the node binary for the socket.io relay (the product itself runs on Bun). */
export function nodeBinary(): string {
  return Bun.which("node") ?? "node";
}
