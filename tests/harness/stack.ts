/**
 * Runs the system as the separate processes it is in production: the api, N chat replicas and
 * (optionally) the notification worker, each a real `bun` process on its own port, against this
 * test run's database and Redis prefix. Replicas can be killed and restarted mid-test.
 */
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

const ROOT = new URL("../..", import.meta.url).pathname;
const BUN = process.execPath;
const LOG_DIR = join(ROOT, ".tmp", "test-logs");

export interface ServiceProcess {
  name: string;
  port: number;
  url: string;
  proc: Subprocess;
  env: Record<string, string>;
  entry: string;
}

export interface Stack {
  api: ServiceProcess;
  chats: ServiceProcess[];
  worker?: ServiceProcess;
  env: Record<string, string>;
  /** Signals a replica (SIGKILL by default) and waits for it to exit. */
  kill(p: ServiceProcess, signal?: NodeJS.Signals): Promise<number>;
  /** Starts a stopped service again on the same port. */
  restart(p: ServiceProcess): Promise<void>;
  stop(): Promise<void>;
}

const handedOut = new Set<number>();

/**
 * A port nobody listens on, for a process started next. Taken below the kernel's ephemeral range
 * (32768+ here), which a port handed out by `listen(0)` is in: that one could be taken meanwhile by
 * any outgoing connection (to Postgres, Redis, a replica), and was, now and then, in full runs.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    // never twice in one run: two services launched together must not be handed one port
    if (handedOut.has(port)) continue;
    try {
      const server = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      server.stop(true);
      handedOut.add(port);
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error("no free port found between 20000 and 32000");
}

/** The pid of the process answering at `url` (its /status), or null when it does not say. */
async function pidAt(url: string): Promise<number | null> {
  try {
    const res = await fetch(`${url}/status`);
    return res.ok ? (((await res.json()) as { pid?: number }).pid ?? null) : null;
  } catch {
    return null;
  }
}

/**
 * Ready means this process answers: another service of the run may have taken the port first (it
 * answers /readyz too, and this one is about to exit with EADDRINUSE), seen once as an api
 * "ready" on a chat replica's port.
 */
async function waitReady(url: string, proc: Subprocess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${url} exited with ${proc.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) {
        const pid = await pidAt(url);
        if (pid === null || pid === proc.pid) return;
      }
    } catch {}
    await Bun.sleep(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

function spawnService(name: string, entry: string, env: Record<string, string>): Subprocess {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = openSync(join(LOG_DIR, `${process.env.REDIS_PREFIX?.replace(/[^a-z0-9]/gi, "") ?? "run"}-${name}.log`), "a");
  return Bun.spawn([BUN, entry], { cwd: ROOT, env: { ...process.env, ...env }, stdout: log, stderr: log });
}

async function launch(name: string, entry: string, port: number, env: Record<string, string>): Promise<ServiceProcess> {
  const proc = spawnService(name, entry, env);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, proc);
  return { name, port, url, proc, env, entry };
}

/**
 * A service on a port that was free a moment ago. Another process can take it in between (every
 * outgoing connection takes a port from the same range): a service that exits before it is ready
 * is started again on another port, twice at most.
 */
async function launchOnFreePort(name: string, entry: string, envFor: (port: number) => Record<string, string>): Promise<ServiceProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await launch(name, entry, port, envFor(port));
    } catch (err) {
      if (attempt >= 3 || !/exited with/.test((err as Error).message)) throw err;
    }
  }
}

export interface StackOptions {
  chatReplicas?: number;
  worker?: boolean;
  /** environment for every process (e.g. CHAT_REPLAY_MAX_EVENTS) */
  env?: Record<string, string>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const base: Record<string, string> = {
    NODE_ENV: "test",
    LOG_LEVEL: process.env.STACK_LOG_LEVEL ?? "warn",
    DATABASE_URL: process.env.DATABASE_URL!,
    REDIS_URL: process.env.REDIS_URL!,
    REDIS_PREFIX: process.env.REDIS_PREFIX!,
    MIGRATE_ON_START: "false",
    DATABASE_POOL_SIZE: "4",
    ...opts.env,
  };
  const [api, ...chats] = await Promise.all([
    launchOnFreePort("api", "services/api/src/main.ts", (port) => ({ ...base, API_PORT: String(port) })),
    ...Array.from({ length: opts.chatReplicas ?? 3 }, (_, i) =>
      launchOnFreePort(`chat-${i + 1}`, "services/backend-chat/src/main.ts", (port) => ({ ...base, CHAT_PORT: String(port), CHAT_REPLICA_NAME: `chat-${i + 1}` })),
    ),
  ]);
  let worker: ServiceProcess | undefined;
  if (opts.worker) {
    worker = await launchOnFreePort("worker", "services/notification-worker/src/main.ts", (port) => ({ ...base, WORKER_PORT: String(port) }));
  }
  const all = () => [api!, ...chats, ...(worker ? [worker] : [])];
  return {
    api: api!,
    chats,
    worker,
    env: base,
    async kill(p, signal = "SIGKILL") {
      p.proc.kill(signal);
      return await p.proc.exited;
    },
    async restart(p) {
      const fresh = spawnService(p.name, p.entry, p.env);
      p.proc = fresh;
      await waitReady(p.url, fresh);
    },
    async stop() {
      for (const p of all()) if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
      await Promise.all(all().map((p) => p.proc.exited));
    },
  };
}
