/**
 * `npm run test:compose`: the compose stack for real, in this machine's Docker engine.
 *
 *  1. Docker: uses the running engine, or starts dockerd when it can (root, binary present); else fails
 *     saying why. Uses `docker compose` (v2) or Debian's `docker-compose` (1.29).
 *  2. Base images: the pinned registry images when present locally (or the *_IMAGE variables); else
 *     local stand-ins built from this host's binaries (compose/standins/build-standins.sh).
 *  3. Builds the images, starts the stack with 2 chat replicas on 127.0.0.1:${COMPOSE_TEST_HTTPS_PORT},
 *     registers members through nginx, and runs four clients (two per member) sending messages to each
 *     other while backend-chat is scaled 2 → 4 (new replicas must receive connections) → 2 (the removed
 *     ones drain; their clients resume elsewhere).
 *  4. Checks that every client received every message exactly once, in order, and that the HTTP
 *     history holds every message. Tears the stack down (KEEP_STACK=1 keeps it).
 *
 * Not part of `npm test`. Exit code 0 on success, 1 with the reason (and recent logs) otherwise.
 */
import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ensureDevCerts } from "../scripts/certs.ts";
import { readBody } from "../tests/harness/body.ts";

const REPO = resolve(import.meta.dir, "..");
const COMPOSE_FILE = resolve(REPO, "compose/docker-compose.yml");
const PROJECT = process.env.COMPOSE_TEST_PROJECT ?? "xplicit-composetest";
const HTTPS_PORT = Number(process.env.COMPOSE_TEST_HTTPS_PORT ?? 18443);
const HTTP_PORT = Number(process.env.COMPOSE_TEST_HTTP_PORT ?? 18080);
const BASE = `https://localhost:${HTTPS_PORT}`;
const started = Date.now();

const log = (msg: string) => console.log(`[test:compose +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
class Failure extends Error {}
function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Failure(msg);
}

function run(cmd: string[], opts: { env?: Record<string, string>; quiet?: boolean; allowFail?: boolean; timeoutMs?: number } = {}) {
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    cwd: REPO,
    env: { ...process.env, ...opts.env },
    encoding: "utf8",
    stdio: opts.quiet ? "pipe" : ["ignore", "inherit", "inherit"],
    timeout: opts.timeoutMs ?? 15 * 60 * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (!opts.allowFail && r.status !== 0) {
    throw new Failure(`${cmd.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr ?? "").slice(-3000)}`);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Docker

async function ensureDocker(): Promise<void> {
  if (spawnSync("docker", ["--version"]).error) {
    throw new Failure("the docker CLI is not installed (Debian: apt-get install docker.io docker-compose)");
  }
  if (spawnSync("docker", ["info"], { stdio: "ignore" }).status === 0) return;
  const dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].find((p) => existsSync(p));
  if (!dockerd) throw new Failure("the Docker engine is not running and dockerd is not installed (apt-get install docker.io)");
  if (process.getuid?.() !== 0) throw new Failure("the Docker engine is not running; start it (sudo dockerd &, or systemctl start docker) and run again");
  mkdirSync(resolve(REPO, ".tmp"), { recursive: true });
  const logFile = resolve(REPO, ".tmp/dockerd.log");
  log(`starting dockerd (log: ${logFile})`);
  const out = openSync(logFile, "a");
  Bun.spawn([dockerd], { stdout: out, stderr: out, stdin: "ignore" }).unref();
  for (let i = 0; i < 60; i++) {
    await Bun.sleep(500);
    if (spawnSync("docker", ["info"], { stdio: "ignore" }).status === 0) return;
  }
  throw new Failure(`dockerd did not come up within 30 s; its log says:\n${readFileSync(logFile, "utf8").slice(-3000)}`);
}

function composeCli(): string[] {
  if (spawnSync("docker", ["compose", "version"], { stdio: "ignore" }).status === 0) return ["docker", "compose"];
  if (spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0) return ["docker-compose"];
  throw new Failure("neither `docker compose` nor `docker-compose` is installed (Debian: apt-get install docker-compose)");
}

const imageExists = (name: string) => spawnSync("docker", ["image", "inspect", name], { stdio: "ignore" }).status === 0;

/** The pinned images when present, else local stand-ins (no registry is reachable on CI). */
function baseImages(): Record<string, string> {
  const wanted: Record<string, [string, string]> = {
    BUN_IMAGE: ["oven/bun:1.4.5-alpine", "bun"],
    NGINX_IMAGE: ["nginx:1.30.4-alpine", "nginx"],
    POSTGRES_IMAGE: ["postgres:17.6-alpine", "postgres"],
    REDIS_IMAGE: ["redis:7.4.5-alpine", "redis"],
  };
  const out: Record<string, string> = {};
  const toBuild: string[] = [];
  for (const [variable, [official, standin]] of Object.entries(wanted)) {
    const chosen = process.env[variable];
    if (chosen) out[variable] = chosen;
    else if (imageExists(official)) out[variable] = official;
    else {
      out[variable] = `xplicit-standin/${standin}:local`;
      if (process.env.STANDIN_REBUILD === "1" || !imageExists(out[variable])) toBuild.push(standin);
    }
  }
  if (toBuild.length) {
    log(`building local stand-ins for ${toBuild.join(", ")} (no registry needed)`);
    run([resolve(REPO, "compose/standins/build-standins.sh"), ...toBuild]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP and WebSocket clients through the published nginx port

const ca = () => readFileSync(resolve(REPO, "certs/ca.crt"), "utf8");

class Member {
  cookie = "";
  userId = "";
  constructor(readonly handle: string) {}

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const headers: Record<string, string> = { origin: BASE };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.cookie) headers.cookie = this.cookie;
    const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), tls: { ca: ca() } } as RequestInit);
    for (const sc of res.headers.getSetCookie()) {
      const pair = sc.split(";")[0]!;
      if (pair.startsWith("__Host-sid=")) this.cookie = pair;
    }
    const { json } = await readBody(res);
    return { status: res.status, json };
  }
}

interface Received {
  seq: number;
  messageId: string;
  clientMsgId: string;
}

/** A chat client that follows docs/protocol.md: resume with its cursor, resend until `sent`, drop seq ≤ cursor. */
class ChatClient {
  readonly clientId = `ct-${randomBytes(8).toString("hex")}`;
  ws: WebSocket | null = null;
  cursor = 0;
  epoch: string | undefined;
  replica = "";
  replicasSeen = new Set<string>();
  received: Received[] = [];
  duplicatesDropped = 0;
  pending = new Map<string, { conversationId: string; body: string }>();
  sentAnswers = new Map<string, string>();
  reconnects = 0;
  closed = false;
  private ready: Promise<void> | null = null;

  constructor(readonly name: string, readonly member: Member) {}

  connect(): Promise<void> {
    this.ready = new Promise<void>((resolvePromise, reject) => {
      const ws = new WebSocket(BASE.replace("https", "wss") + "/ws", {
        headers: { origin: BASE, cookie: this.member.cookie },
        tls: { ca: ca() },
      } as unknown as string[]);
      this.ws = ws;
      let welcomed = false;
      ws.addEventListener("open", () => {
        ws.send(JSON.stringify({ type: "hello", clientId: this.clientId, ...(this.cursor ? { resume: { cursor: this.cursor, epoch: this.epoch } } : {}) }));
      });
      ws.addEventListener("message", (e) => {
        const f = JSON.parse(String(e.data));
        if (f.type === "welcome") {
          welcomed = true;
          this.replica = f.replica;
          this.replicasSeen.add(f.replica);
          if (!this.cursor) this.cursor = f.cursor;
          this.epoch = f.epoch;
          resolvePromise();
          for (const [id, p] of this.pending) ws.send(JSON.stringify({ type: "send", id, ...p }));
        } else if (f.type === "event") {
          if (f.seq <= this.cursor) {
            this.duplicatesDropped++;
            return;
          }
          check(f.seq === this.cursor + 1 || this.cursor === 0, `${this.name}: gap in seq: cursor ${this.cursor}, got ${f.seq}`);
          this.cursor = f.seq;
          if (f.kind === "message") this.received.push({ seq: f.seq, messageId: f.data.messageId, clientMsgId: f.data.clientMsgId });
          ws.send(JSON.stringify({ type: "ack", seq: f.seq }));
        } else if (f.type === "sent") {
          this.pending.delete(f.id);
          this.sentAnswers.set(f.id, f.messageId);
        } else if (f.type === "resync") {
          throw new Failure(`${this.name}: unexpected resync (${f.reason})`);
        } else if (f.type === "error" && f.code !== "busy") {
          log(`${this.name}: error frame ${JSON.stringify(f)}`);
        }
      });
      ws.addEventListener("close", (e) => {
        if (!welcomed) reject(new Error(`${this.name}: closed before welcome (${e.code} ${e.reason})`));
        if (this.closed) return;
        this.reconnects++;
        const delay = e.code === 1012 ? 300 + Math.random() * 700 : 500;
        setTimeout(() => void this.reconnectLoop(), delay);
      });
      ws.addEventListener("error", () => {
        if (!welcomed) reject(new Error(`${this.name}: WebSocket error before welcome`));
      });
    });
    return this.ready;
  }

  private async reconnectLoop(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await this.connect();
        return;
      } catch {
        await Bun.sleep(Math.min(5000, 300 * 2 ** attempt));
      }
    }
  }

  send(conversationId: string, body: string): string {
    const id = randomUUID();
    this.pending.set(id, { conversationId, body });
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "send", id, conversationId, body }));
    return id;
  }

  close(): void {
    this.closed = true;
    this.ws?.close(1000);
  }
}

// ---------------------------------------------------------------------------------------------

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (err) {
      if (err instanceof Failure) throw err;
    }
    await Bun.sleep(500);
  }
  throw new Failure(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
}

async function main(): Promise<void> {
  await ensureDocker();
  const compose = composeCli();
  log(`compose CLI: ${compose.join(" ")}`);
  ensureDevCerts({ log: (s) => log(`certs: ${s}`) });
  const images = baseImages();
  log(`base images: ${Object.values(images).join(", ")}`);

  const env: Record<string, string> = {
    ...images,
    COMPOSE_PROJECT_NAME: PROJECT,
    POSTGRES_PASSWORD: randomBytes(18).toString("hex"),
    BIND_ADDRESS: "127.0.0.1",
    HTTPS_PORT: String(HTTPS_PORT),
    HTTP_PORT: String(HTTP_PORT),
    PUBLIC_ORIGINS: BASE,
    CERTS_DIR: resolve(REPO, "certs"),
    LOG_LEVEL: "warn",
    EDGE_AUTH_BURST: "50",
    APP_TAG: "composetest",
  };
  const dc = (...args: string[]) => [...compose, "-f", COMPOSE_FILE, "-p", PROJECT, ...args];
  const chatContainers = () =>
    run(dc("ps", "-q", "backend-chat"), { env, quiet: true }).stdout.split("\n").map((s) => s.trim()).filter(Boolean);

  let ok = false;
  try {
    run(dc("down", "-v", "--remove-orphans"), { env, quiet: true, allowFail: true });
    log("building images");
    run(dc("build"), { env });
    log("starting the stack with 2 chat replicas");
    run(dc("up", "-d", "--scale", "backend-chat=2"), { env });
    await waitFor("the api through nginx", async () => (await fetch(`${BASE}/readyz`, { tls: { ca: ca() } } as RequestInit)).status === 200, 180000);
    log(`up: ${BASE}`);

    // Port 80 redirects only; security headers are there.
    const redirect = await fetch(`http://127.0.0.1:${HTTP_PORT}/x`, { redirect: "manual", headers: { host: "localhost" } });
    check(redirect.status === 301 && redirect.headers.get("location") === `${BASE}/x`, `http port should redirect to ${BASE}/x, got ${redirect.status} ${redirect.headers.get("location")}`);

    const a = new Member(`ct_a_${randomBytes(3).toString("hex")}`);
    const b = new Member(`ct_b_${randomBytes(3).toString("hex")}`);
    for (const m of [a, b]) {
      const reg = await m.request("POST", "/api/auth/register", { email: `${m.handle}@example.test`, handle: m.handle, password: "correct horse battery", birthDate: "1990-01-01", acceptTerms: true });
      check(reg.status === 201, `register ${m.handle}: ${reg.status} ${JSON.stringify(reg.json)}`);
      m.userId = reg.json.user?.id;
    }
    const conv = await a.request("POST", "/api/conversations", { handles: [b.handle] });
    check(conv.status === 200 || conv.status === 201, `create conversation: ${conv.status} ${JSON.stringify(conv.json)}`);
    const conversationId: string = conv.json.conversation?.id ?? conv.json.id;
    check(conversationId, `no conversation id in ${JSON.stringify(conv.json)}`);

    // Four clients; keep opening until they sit on both replicas.
    const clients = [new ChatClient("a1", a), new ChatClient("a2", a), new ChatClient("b1", b), new ChatClient("b2", b)];
    for (const c of clients) await c.connect();
    for (let i = 0; new Set(clients.map((c) => c.replica)).size < 2 && i < 10; i++) {
      const c = clients[i % clients.length]!;
      c.ws?.close(1000);
      await waitFor(`${c.name} to reconnect`, () => c.ws?.readyState === WebSocket.OPEN, 10000);
    }
    check(new Set(clients.map((c) => c.replica)).size >= 2, `clients did not spread over the replicas: ${clients.map((c) => c.replica).join(", ")}`);
    log(`clients on ${clients.map((c) => `${c.name}@${c.replica}`).join(", ")}`);

    // Traffic: every client sends every 150 ms until told to stop.
    const sentIds: string[] = [];
    let traffic = true;
    const senders = clients.map(async (c, i) => {
      let n = 0;
      while (traffic) {
        sentIds.push(c.send(conversationId, `${c.name} #${n++}`));
        await Bun.sleep(150 + i * 10);
      }
    });

    await Bun.sleep(2000);
    const before = new Set(chatContainers());
    log("scaling backend-chat 2 → 4 under traffic");
    run(dc("up", "-d", "--no-recreate", "--scale", "backend-chat=4"), { env });
    await waitFor("4 chat replicas", () => chatContainers().length === 4, 60000);
    // Container ids are asked for once: `docker-compose ps` is slow.
    const fresh = chatContainers().filter((id) => !before.has(id)).map((id) => `chat-${id.slice(0, 12)}`);
    check(fresh.length === 2, `expected 2 new chat containers, found ${fresh.length}`);
    // nginx must route to the new replicas without a reload: new sockets land on them.
    await waitFor("a connection to a new replica through nginx", async () => {
      const p = new ChatClient("probe", b);
      try {
        await p.connect();
      } finally {
        p.close();
      }
      return fresh.includes(p.replica);
    }, 60000);
    log("new replicas receive connections");
    // Move some of the real clients onto the new replicas so that scaling down drains them.
    const newNames = () => fresh;
    for (let i = 0; i < 40 && !clients.some((c) => fresh.includes(c.replica)); i++) {
      const c = clients[i % clients.length]!;
      c.ws?.close(1000);
      await Bun.sleep(100);
      await waitFor(`${c.name} to reconnect`, () => c.ws?.readyState === WebSocket.OPEN, 10000);
    }
    const onNew = clients.filter((c) => newNames().includes(c.replica)).map((c) => c.name);
    check(onNew.length > 0, "no client could be moved to a new replica");
    log(`clients on new replicas: ${onNew.join(", ")}`);
    await Bun.sleep(2000);

    log("scaling backend-chat 4 → 2 under traffic");
    const reconnectsBefore = clients.reduce((s, c) => s + c.reconnects, 0);
    run(dc("up", "-d", "--no-recreate", "--scale", "backend-chat=2"), { env });
    await waitFor("2 chat replicas", () => chatContainers().length === 2, 90000);
    const remaining = new Set(chatContainers().map((id) => `chat-${id.slice(0, 12)}`));
    await waitFor("every client on a remaining replica", () => clients.every((c) => c.ws?.readyState === WebSocket.OPEN && remaining.has(c.replica)), 30000);
    log(`clients resumed: ${clients.map((c) => `${c.name}@${c.replica}`).join(", ")} (${clients.reduce((s, c) => s + c.reconnects, 0) - reconnectsBefore} reconnects)`);
    await Bun.sleep(2000);
    traffic = false;
    await Promise.all(senders);

    // Every send answered, every client has every message, once, in order.
    await waitFor("every send to be answered", () => clients.every((c) => c.pending.size === 0), 30000);
    const expected = new Set(sentIds);
    check(expected.size === sentIds.length, "duplicate client ids generated");
    await waitFor("every client to receive every message", () => clients.every((c) => new Set(c.received.map((r) => r.clientMsgId)).size >= expected.size), 30000);
    for (const c of clients) {
      const ids = c.received.map((r) => r.clientMsgId);
      check(ids.length === new Set(ids).size, `${c.name} saw a message twice`);
      for (const id of expected) check(ids.includes(id), `${c.name} never received ${id}`);
      for (let i = 1; i < c.received.length; i++) check(c.received[i]!.seq > c.received[i - 1]!.seq, `${c.name}: events out of order`);
    }
    // Order per conversation: every client saw the messages in the same order.
    const order = clients[0]!.received.map((r) => r.messageId).join(",");
    for (const c of clients) check(c.received.map((r) => r.messageId).join(",") === order, `${c.name} saw a different message order`);

    // The HTTP history has them all.
    const history = new Set<string>();
    let before_ = "";
    for (let page = 0; page < 100; page++) {
      const res = await a.request("GET", `/api/conversations/${conversationId}/messages?limit=100${before_ ? `&before=${before_}` : ""}`);
      check(res.status === 200, `history: ${res.status}`);
      const items: any[] = res.json.items ?? res.json.messages ?? [];
      for (const m of items) history.add(m.id ?? m.messageId);
      if (!items.length || (!res.json.nextCursor && items.length < 100)) break;
      before_ = res.json.nextCursor ?? items[items.length - 1].id;
    }
    const messageIds = new Set(clients[0]!.received.map((r) => r.messageId));
    for (const id of messageIds) check(history.has(id), `message ${id} missing from the HTTP history`);
    log(`${expected.size} messages, 4 clients, ${clients.reduce((s, c) => s + c.reconnects, 0)} reconnects, ${clients.reduce((s, c) => s + c.duplicatesDropped, 0)} replayed duplicates dropped: nothing lost, nothing doubled`);

    // The operators' /status through mTLS lists every replica.
    const operator = resolve(REPO, "certs/clients/operator");
    const status = await fetch(`${BASE}/status`, { tls: { ca: ca(), cert: readFileSync(`${operator}.crt`, "utf8"), key: readFileSync(`${operator}.key`, "utf8") } } as RequestInit);
    const noCert = await fetch(`${BASE}/status`, { tls: { ca: ca() } } as RequestInit);
    check(noCert.status === 403, `/status without a client certificate: ${noCert.status}`);
    if (status.status === 200) {
      const body = await status.json();
      const chats = body.replicas.filter((r: any) => r.name === "chat" && r.ok).length;
      check(chats === 2, `/status should list 2 chat replicas, lists ${chats}`);
      log("/status (mTLS) lists every replica");
    } else {
      log(`/status with the operator certificate answered ${status.status} (operations route not mounted in the api yet)`);
    }

    for (const c of clients) c.close();
    ok = true;
    log(`passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    if (!ok) {
      const logs = run(dc("logs", "--tail", "60", "--no-color"), { env, quiet: true, allowFail: true });
      console.error(`--- compose logs (tail) ---\n${(logs.stdout ?? "").slice(-12000)}`);
    }
    if (process.env.KEEP_STACK === "1") log(`KEEP_STACK=1: the stack stays up (project ${PROJECT})`);
    else run(dc("down", "-v", "--remove-orphans"), { env, quiet: true, allowFail: true });
  }
}

try {
  await main();
  process.exit(0);
} catch (err) {
  console.error(`[test:compose] FAILED: ${(err as Error).message}`);
  process.exit(1);
}
