/**
 * `npm start`: the whole Xplicit topology as processes on this machine.
 *
 *   nginx (from PATH, rendered config, dev certificates)  https://localhost:8443, :8080 redirects
 *   api                                                   API_PORT (3000)
 *   CHAT_REPLICAS chat replicas (default 2)               CHAT_PORT+1, CHAT_PORT+2, … (3101, 3102, …)
 *   notification worker                                   WORKER_PORT (3200)
 *
 * It checks what it needs first (nginx, openssl/certificates, Postgres, Redis) and says what is missing
 * and how to get it, exiting non-zero. Each process's output lines are prefixed with its name
 * (START_LOG_FORMAT=json prints the raw JSON lines instead). A process that exits on its own (killed,
 * crashed, or drained with SIGTERM) is reported and started again after a pause, as compose's
 * `restart: unless-stopped` does, so a killed replica can be watched being replaced while clients
 * resume on the others; one that keeps dying within seconds of starting stops the whole stack with a
 * non-zero exit. Ctrl-C stops everything.
 *
 * nginx runs as a non-daemon child with its own prefix, pid, temp directories and access log under
 * .tmp/nginx, so it never touches a system nginx.
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadConfigOrExit } from "@xplicit/shared/config";
import { createDb, migrate } from "@xplicit/shared/db";
import Redis from "ioredis";
import { detectNginx, optionsFromEnv, prepareLocalPrefix, renderNginxConfig } from "../nginx/render.ts";
import { certPaths, ensureDevCerts, hasOpenssl } from "./certs.ts";

const REPO = resolve(import.meta.dir, "..");
const config = loadConfigOrExit();
const jsonLogs = process.env.START_LOG_FORMAT === "json";

function say(msg: string): void {
  if (jsonLogs) process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), level: "info", service: "start", msg }) + "\n");
  else console.log(`${"start".padEnd(9)}| ${msg}`);
}

function fail(msg: string, hint: string): never {
  if (jsonLogs) process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: "fatal", service: "start", msg, hint }) + "\n");
  else console.error(`${"start".padEnd(9)}| ${msg}\n${" ".repeat(9)}| ${hint}`);
  process.exit(1);
}

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`${name} must be an integer ${min}..${max}, got "${raw}"`, `fix or unset ${name}`);
  return n;
}

const chatReplicas = intFromEnv("CHAT_REPLICAS", 2, 0, 64);

// ---------------------------------------------------------------------------------------------
// Prerequisites

function findNginx(): string {
  const fromEnv = process.env.NGINX_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv) && !Bun.which(fromEnv)) fail(`NGINX_BIN=${fromEnv} does not exist`, "point NGINX_BIN at an nginx binary or unset it to use the one on PATH");
    return fromEnv;
  }
  const found = Bun.which("nginx") ?? ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/opt/homebrew/bin/nginx"].find((p) => existsSync(p));
  if (!found) {
    fail("nginx is not installed (it is the HTTPS edge of the local stack)", "install it (Debian/Ubuntu: sudo apt-get install nginx; macOS: brew install nginx) or set NGINX_BIN");
  }
  return found;
}

function prepareCerts() {
  const p = certPaths();
  const missing = [p.caCert, p.caKey, p.serverCert, p.serverKey].some((f) => !existsSync(f));
  if (missing && !hasOpenssl()) {
    fail(`the development certificates are missing in ${p.dir} and openssl is not installed to create them`, "install openssl (sudo apt-get install openssl), then run npm run certs");
  }
  try {
    return ensureDevCerts({ log: (s) => say(`certs: ${s}`) });
  } catch (err) {
    fail(`cannot create the development certificates: ${(err as Error).message}`, "run npm run certs to see the details");
  }
}

/** A fresh machine has the server but not our database: create it. */
async function ensureDatabase(): Promise<void> {
  const url = new URL(config.databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) return;
  url.pathname = "/postgres";
  const admin = createDb(url.toString(), { max: 1, appName: "start" });
  try {
    const [row] = await admin`select 1 as one from pg_database where datname = ${name}`;
    if (!row) {
      await admin.unsafe(`create database ${name}`);
      say(`created database ${name}`);
    }
  } catch {
    // Reported with a clear message by checkPostgres below.
  } finally {
    await admin.end({ timeout: 1 }).catch(() => {});
  }
}

async function checkPostgres(): Promise<void> {
  await ensureDatabase();
  const sql = createDb(config.databaseUrl, { max: 1, appName: "start" });
  try {
    await sql`select 1`;
    const result = await migrate(sql);
    say(`postgres ok, migrations applied: ${result.applied.length}`);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    fail(
      `PostgreSQL is not reachable at DATABASE_URL=${config.databaseUrl.replace(/\/\/[^@]*@/, "//***@")}: ${(err as Error).message}`,
      "start it (e.g. pg_ctlcluster <version> main start) or set DATABASE_URL to a reachable server",
    );
  }
  await sql.end({ timeout: 1 }).catch(() => {});
}

async function checkRedis(): Promise<void> {
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {}); // reported below, once
  try {
    await redis.connect();
    await redis.ping();
    say("redis ok");
  } catch (err) {
    redis.disconnect();
    fail(`Redis is not reachable at REDIS_URL=${config.redisUrl}: ${(err as Error).message}`, "start it (e.g. redis-server --daemonize yes) or set REDIS_URL to a reachable server");
  }
  redis.disconnect();
}

// ---------------------------------------------------------------------------------------------
// Children

interface Child {
  name: string;
  cmd: string[];
  env: Record<string, string>;
  /** the running process (replaced when it is restarted) */
  proc: Subprocess;
  readyUrl?: string;
  startedAt: number;
  /** exits in a row that came within HEALTHY_RUN_MS of their start */
  quickExits: number;
  /** the processes it started (nginx's workers), last seen: pid → command name */
  descendants: Map<number, string>;
}

/** A process that ran at least this long before exiting is restarted at once (after RESTART_PAUSE_MS). */
const HEALTHY_RUN_MS = 30_000;
const RESTART_PAUSE_MS = 1_000;
/** Exits within HEALTHY_RUN_MS of starting, this many in a row, stop the stack: restarting will not help. */
const MAX_QUICK_EXITS = 5;

const children: Child[] = [];
let stopping = false;

function emit(name: string, line: string, stream: "out" | "err"): void {
  if (!line.trim()) return;
  let text = line;
  if (!line.startsWith("{")) {
    // nginx's error log (and anything else that is not already JSON) becomes a JSON line too.
    const level = /\[(emerg|alert|crit|error)\]/.test(line) ? "error" : /\[warn\]/.test(line) ? "warn" : stream === "err" ? "warn" : "info";
    text = JSON.stringify({ ts: new Date().toISOString(), level, service: name, msg: line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, "") });
  }
  if (jsonLogs) process.stdout.write(text + "\n");
  else process.stdout.write(`${name.padEnd(9)}| ${text}\n`);
}

async function pump(name: string, stream: ReadableStream<Uint8Array>, kind: "out" | "err"): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      emit(name, buf.slice(0, nl), kind);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) emit(name, buf, kind);
}

function spawnProcess(name: string, cmd: string[], env: Record<string, string>): Subprocess {
  const proc = spawn(cmd, { cwd: REPO, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  void pump(name, proc.stdout as ReadableStream<Uint8Array>, "out");
  void pump(name, proc.stderr as ReadableStream<Uint8Array>, "err");
  return proc;
}

function watch(child: Child): void {
  const proc = child.proc;
  child.startedAt = Date.now();
  void proc.exited.then((code) => onExit(child, proc.signalCode ?? code));
}

// ---- orphans -------------------------------------------------------------------------------
// nginx's workers outlive a master killed with SIGKILL and keep its ports: a restarted nginx then
// cannot bind, and after five tries the whole stack stopped. So the processes each child started
// are noted while it runs, and those still there (same pid, same name) are ended when it exits.
// Linux only (/proc); elsewhere nothing is noted.

function procStat(pid: number): { ppid: number; comm: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    return { comm: stat.slice(stat.indexOf("(") + 1, close), ppid: Number(stat.slice(close + 2).split(" ")[1]) };
  } catch {
    return null;
  }
}

function descendantsOf(root: number): Map<number, string> {
  const byParent = new Map<number, number[]>();
  const comms = new Map<number, string>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return new Map();
  }
  for (const e of entries) {
    const st = procStat(Number(e));
    if (!st) continue;
    comms.set(Number(e), st.comm);
    const siblings = byParent.get(st.ppid);
    if (siblings) siblings.push(Number(e));
    else byParent.set(st.ppid, [Number(e)]);
  }
  const out = new Map<number, string>();
  const stack = [...(byParent.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop()!;
    out.set(pid, comms.get(pid) ?? "");
    stack.push(...(byParent.get(pid) ?? []));
  }
  return out;
}

function noteDescendants(): void {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.descendants = descendantsOf(c.proc.pid);
}

function endOrphans(child: Child): void {
  for (const [pid, comm] of child.descendants) {
    if (procStat(pid)?.comm !== comm) continue; // gone, or the pid is someone else's now
    try {
      process.kill(pid, "SIGKILL");
      say(`${child.name}: ended its orphaned process ${pid} (${comm})`);
    } catch {}
  }
  child.descendants = new Map();
}

function onExit(child: Child, code: number | string | null): void {
  if (stopping) return;
  endOrphans(child);
  child.quickExits = Date.now() - child.startedAt < HEALTHY_RUN_MS ? child.quickExits + 1 : 0;
  const quick = child.quickExits;
  if (quick >= MAX_QUICK_EXITS) {
    say(`${child.name} exited (code ${code}) ${quick} times within ${HEALTHY_RUN_MS / 1000}s of starting; stopping the stack`);
    void stopAll(1);
    return;
  }
  const pause = RESTART_PAUSE_MS * 2 ** Math.max(0, quick - 1);
  say(`${child.name} exited (code ${code}); starting it again in ${pause / 1000}s`);
  setTimeout(() => {
    if (stopping) return;
    child.proc = spawnProcess(child.name, child.cmd, child.env);
    watch(child);
    // (not ready in time is only reported: Postgres or Redis may be the reason, and come back)
    void waitReady(child).then((ready) => !stopping && say(ready ? `${child.name} is back` : `${child.name} is not ready yet`));
  }, pause);
}

function start(name: string, cmd: string[], env: Record<string, string>, readyUrl?: string): Child {
  const child: Child = { name, cmd, env, readyUrl, startedAt: 0, quickExits: 0, descendants: new Map(), proc: spawnProcess(name, cmd, env) };
  children.push(child);
  watch(child);
  return child;
}

async function waitReady(child: Child, timeoutMs = 30000): Promise<boolean> {
  if (!child.readyUrl) return true;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return false;
    try {
      const res = await fetch(child.readyUrl, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return true;
    } catch {}
    await Bun.sleep(200);
  }
  say(`${child.name} did not become ready at ${child.readyUrl} within ${timeoutMs / 1000}s`);
  return false;
}

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say("stopping…");
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGTERM");
    const deadline = setTimeout(() => {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) {
        say(`${c.name} did not stop in time: SIGKILL`);
        c.proc.kill("SIGKILL");
      }
    }, config.shutdownTimeoutMs + 2000);
    await Promise.all(children.map((c) => c.proc.exited));
    clearTimeout(deadline);
    say("stopped");
    process.exit(code);
  }
  return new Promise<never>(() => {});
}

/** Follows nginx's access log file (a child's stdout may be a socket, which nginx cannot open by path). */
function followFile(name: string, file: string): void {
  let offset = 0;
  let partial = "";
  const buf = Buffer.alloc(64 * 1024);
  const timer = setInterval(() => {
    try {
      if (!existsSync(file)) return;
      if (statSync(file).size < offset) offset = 0;
      const fd = openSync(file, "r");
      try {
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, offset);
          if (n <= 0) break;
          offset += n;
          partial += buf.subarray(0, n).toString("utf8");
        }
      } finally {
        closeSync(fd);
      }
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) emit(name, l, "out");
    } catch {}
  }, 250);
  timer.unref();
}

// ---------------------------------------------------------------------------------------------
// Main

const nginxBin = findNginx();
const certs = prepareCerts();
await checkPostgres();
await checkRedis();

const features = detectNginx(nginxBin);
const edge = optionsFromEnv("local", features, { ...process.env, CERTS_DIR: certs.dir, API_PORT: String(config.apiPort), CHAT_PORT: String(config.chatPort), CHAT_REPLICAS: String(chatReplicas) });
if (chatReplicas === 0) edge.chat = ["127.0.0.1:1"];
prepareLocalPrefix(edge);
const confFile = resolve(edge.prefixDir, "nginx.conf");
writeFileSync(confFile, renderNginxConfig(edge));
writeFileSync(edge.accessLog, "");
const check = spawnSync([nginxBin, "-t", "-q", "-p", edge.prefixDir, "-c", confFile, "-e", "stderr"], { stderr: "pipe", stdout: "pipe" });
if (check.exitCode !== 0) {
  fail(`the rendered nginx configuration (${confFile}) does not load: ${check.stderr.toString().trim()}`, "see nginx/render.ts; is another process using the ports?");
}

const httpsUrl = `https://localhost:${edge.publicHttpsPort}`;
const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
const chatPorts = Array.from({ length: chatReplicas }, (_, i) => config.chatPort + 1 + i);
const workerEntry = "services/notification-worker/src/main.ts";
const chatEntry = "services/backend-chat/src/main.ts";
const hasChat = existsSync(resolve(REPO, chatEntry));
const hasWorker = existsSync(resolve(REPO, workerEntry));

const statusTargets = [
  `api=http://${host}:${config.apiPort}`,
  ...(hasChat ? chatPorts.map((p) => `chat=http://${host}:${p}`) : []),
  ...(hasWorker ? [`worker=http://${host}:${config.workerPort}`] : []),
].join(",");
const common: Record<string, string> = {
  PUBLIC_ORIGINS: process.env.PUBLIC_ORIGINS ?? `${httpsUrl},http://localhost:${config.apiPort}`,
  STATUS_TARGETS: process.env.STATUS_TARGETS ?? statusTargets,
  MIGRATE_ON_START: "false",
};

process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

const bun = process.execPath;
const services: Child[] = [];
services.push(start("api", [bun, "services/api/src/main.ts"], { ...common, API_PORT: String(config.apiPort) }, `http://${host}:${config.apiPort}/readyz`));
if (hasChat) {
  chatPorts.forEach((port, i) => {
    const name = `chat-${i + 1}`;
    services.push(start(name, [bun, chatEntry], { ...common, CHAT_PORT: String(port), CHAT_REPLICA_NAME: name }, `http://${host}:${port}/readyz`));
  });
} else {
  say(`warning: ${chatEntry} does not exist yet: no chat replicas (/ws will answer 502)`);
}
if (hasWorker) {
  services.push(start("worker", [bun, workerEntry], { ...common, WORKER_PORT: String(config.workerPort) }, `http://${host}:${config.workerPort}/readyz`));
} else {
  say(`warning: ${workerEntry} does not exist yet: no notification worker`);
}
if (!(await Promise.all(services.map((s) => waitReady(s)))).every(Boolean)) await stopAll(1);

mkdirSync(edge.prefixDir, { recursive: true });
start("nginx", [nginxBin, "-p", edge.prefixDir, "-c", confFile, "-e", "stderr"], {});
followFile("nginx", edge.accessLog);
// what each child started (nginx's workers), so a child that dies leaves none of them behind
setTimeout(noteDescendants, 1000);
setInterval(noteDescendants, 3000).unref();

say(`Xplicit is up: ${httpsUrl}  (http://localhost:${edge.httpPort} redirects there)`);
say(`  trust ${certs.caCert} in the browser (or curl --cacert ${certs.caCert});`);
say(`  operators: import ${certs.client("operator").p12} for ${httpsUrl}/status, /metrics, /api/admin/`);
say(`  api ${host}:${config.apiPort}` + (hasChat ? `, chat ${chatPorts.join(", ")}` : "") + (hasWorker ? `, worker ${config.workerPort}` : "") + ". Ctrl-C stops everything.");
