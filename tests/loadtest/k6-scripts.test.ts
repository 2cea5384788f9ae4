/**
 * The k6 scripts of loadtest/, run by the emulator (loadtest/emulator) against the real stack: an
 * api, 3 chat replicas, the worker and nginx with TLS and mTLS. Small numbers: this checks that
 * every scenario's journeys, protocol and thresholds work end to end, not the stack's capacity
 * (bench/ measures that). A script that drifts from the api or the protocol fails here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import postgres from "postgres";
import { REPO, edgeFetch, newMemberBody, reserveEdgePorts, startEdge, type Edge } from "../harness/edge.ts";
import { startStack, type Stack } from "../harness/stack.ts";
import { TestClient } from "../harness/api.ts";
import { runScript as runInProcess } from "../../loadtest/emulator/run.ts";

let stack: Stack;
let edge: Edge;
let dir: string;
let caFile: string;
const admin = { ...newMemberBody(), password: "operator password 1" };

/** nginx's per-IP limits are set for real members; one load generator is one IP. */
const EDGE_LIMITS = {
  EDGE_AUTH_PER_MINUTE: "100000",
  EDGE_AUTH_BURST: "10000",
  EDGE_API_PER_SECOND: "100000",
  EDGE_API_BURST: "100000",
  EDGE_WS_UPGRADES_PER_SECOND: "10000",
  EDGE_WS_UPGRADE_BURST: "10000",
};

beforeAll(async () => {
  const ports = await reserveEdgePorts();
  stack = await startStack({
    chatReplicas: 3,
    worker: true,
    env: { PUBLIC_ORIGINS: `https://localhost:${ports.httpsPort},http://localhost:3000`, TRUSTED_PROXIES: "127.0.0.1,::1" },
  });
  edge = await startEdge({ apiPort: stack.api.port, chatPorts: stack.chats.map((c) => c.port), env: EDGE_LIMITS }, ports);
  dir = mkdtempSync(join(tmpdir(), "xp-k6-"));
  caFile = join(dir, "ca.crt");
  writeFileSync(caFile, edge.ca);

  const res = await edgeFetch(edge, "/api/auth/register", { method: "POST", headers: { Origin: edge.origin, "Content-Type": "application/json" }, body: JSON.stringify(admin) });
  expect(res.status).toBe(201);
  const sql = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  await sql`update users set role = 'admin' where email = ${admin.email}`;
  await sql.end();
}, 90_000);

afterAll(async () => {
  await edge?.stop();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  exitCode: number;
  thresholds: Array<{ key: string; expression: string; actual: number | null; ok: boolean }>;
  metrics: Record<string, Record<string, number | null>>;
  iterations: { ok: number; failed: number; interrupted: number };
}

let runs = 0;
/** `bun loadtest/emulator/run.ts -e … script`, as a load tester would run k6; its summary and exit code. */
async function runScript(script: string, vars: Record<string, string>, processEnv: Record<string, string> = {}): Promise<Summary & { output: string }> {
  const summaryFile = join(dir, `summary-${++runs}.json`);
  const args = Object.entries(vars).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const proc = Bun.spawn([process.execPath, "loadtest/emulator/run.ts", ...args, "--summary-json", summaryFile, `loadtest/${script}`], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PWD: REPO, ...processEnv },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  const output = `${out}\n${err}`;
  const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as Summary;
  expect(summary.exitCode).toBe(code);
  return { ...summary, output };
}

function expectAllThresholdsMet(s: Summary & { output: string }): void {
  if (s.exitCode !== 0) console.error(s.output);
  expect(s.thresholds.filter((t) => !t.ok)).toEqual([]);
  // no verdict rests on a Rate without samples, which k6 versions judge differently
  expect(s.thresholds.filter((t) => t.actual === null)).toEqual([]);
  expect(s.exitCode).toBe(0);
  expect(s.iterations.failed).toBe(0);
}

/** The chat scripts straight to the replicas (no nginx): the api's own origin. */
const direct = () => ({
  BASE_URL: `http://127.0.0.1:${stack.api.port}`,
  ORIGIN: "http://localhost:3000",
  WS_URL: stack.chats.map((c) => `ws://127.0.0.1:${c.port}/ws`).join(","),
});

const throughEdge = () => ({ BASE_URL: edge.url });
const tlsEnv = () => ({ SSL_CERT_FILE: caFile });

describe("the k6 scripts against the real stack (api, 3 chat replicas, worker, nginx)", () => {
  test("smoke through nginx and TLS: every journey once, thresholds met", async () => {
    const s = await runScript("smoke.ts", throughEdge(), tlsEnv());
    expectAllThresholdsMet(s);
    expect(s.metrics.chat_deliveries!.count).toBe(3);
    expect(s.metrics.checks!.rate).toBe(1);
  }, 60_000);

  test("smoke fails its thresholds when the server refuses it (an Origin not in PUBLIC_ORIGINS)", async () => {
    const s = await runScript("smoke.ts", { ...throughEdge(), ORIGIN: "https://elsewhere.example" }, tlsEnv());
    expect(s.exitCode).toBe(99);
    expect(s.thresholds.find((t) => t.key === "checks")!.ok).toBe(false);
  }, 60_000);

  test("setup waits out the edge's sign-up limit (429 + Retry-After) instead of failing the run", async () => {
    // an edge whose sign-up budget is what real members get (a burst, then one a second)
    const strict = await startEdge({ apiPort: stack.api.port, chatPorts: stack.chats.map((c) => c.port), env: { ...EDGE_LIMITS, EDGE_AUTH_PER_MINUTE: "60", EDGE_AUTH_BURST: "2" } });
    const strictCa = join(dir, "strict-ca.crt");
    writeFileSync(strictCa, strict.ca);
    try {
      const s = await runScript("api.ts", { BASE_URL: strict.url, ORIGIN: edge.origin, MEMBERS: "6", RATE: "2", DURATION: "2" }, { SSL_CERT_FILE: strictCa });
      expectAllThresholdsMet(s);
      expect(s.output).toContain("the edge limits sign-ups and logins per IP (429)");
    } finally {
      await strict.stop();
    }
  }, 90_000);

  test("chat straight to the 3 replicas: delivered, none lost or duplicated, every send acked", async () => {
    const s = await runScript("chat.ts", {
      ...direct(),
      MEMBERS: "12",
      RATE: "60",
      DURATION: "6",
      RAMP_SECONDS: "2",
      DRAIN_SECONDS: "2",
      P99_MS: "1000",
    });
    expectAllThresholdsMet(s);
    expect(s.metrics.chat_deliveries!.count).toBe(s.metrics.chat_deliveries_expected!.count);
    expect(s.metrics.chat_messages_acked!.count).toBe(s.metrics.chat_messages_sent!.count);
    expect(s.metrics.chat_deliveries!.count!).toBeGreaterThan(200);
    // the sender-gap check had messages to vouch for (every device's partner's, but its last ones)
    expect(s.metrics.chat_sender_verified!.count!).toBeGreaterThan(s.metrics.chat_deliveries!.count! * 0.8);
  }, 90_000);

  test("chat while a replica drains (SIGTERM): its devices resume elsewhere and no confirmed message is missing anywhere", async () => {
    const victim = stack.chats[1]!;
    const run = runScript("chat.ts", { ...direct(), MEMBERS: "24", RATE: "120", DURATION: "10", RAMP_SECONDS: "2", DRAIN_SECONDS: "3", P99_MS: "5000", UNEXPECTED_CLOSES_MAX: "24" });
    await Bun.sleep(7000);
    await stack.kill(victim, "SIGTERM");
    const s = await run;
    await stack.restart(victim);
    expectAllThresholdsMet(s);
    expect(s.metrics.chat_drain_reconnects!.count!).toBeGreaterThan(0);
    expect(s.metrics.chat_lost!.count).toBe(0);
    expect(s.metrics.chat_duplicated!.count).toBe(0);
    expect(s.metrics.chat_deliveries!.count).toBe(s.metrics.chat_deliveries_expected!.count);
    expect(s.metrics.chat_sender_verified!.count!).toBeGreaterThan(s.metrics.chat_deliveries!.count! * 0.8);
  }, 90_000);

  test("chat: a message confirmed to its sender but never put in a receiver's stream is lost (sender_gap)", async () => {
    // A relay in front of one replica hides one message event from one socket and numbers that
    // socket's later events down by one, as a server that never appended it to that member's
    // stream would: no seq gap, nothing for the log's tail (TAIL_CHECK=0: the relay's renumbering
    // would show there), only the sender-gap check can see it.
    const relay = seqHidingRelay(stack.chats[0]!.port, 6);
    try {
      const file = resolve(REPO, "loadtest/chat.ts");
      const env = { ...direct(), WS_URL: relay.url, MEMBERS: "6", RATE: "30", DURATION: "6", RAMP_SECONDS: "1", DRAIN_SECONDS: "2", P99_MS: "5000", TAIL_CHECK: "0", PWD: REPO };
      const o = await runInProcess(file, env, undefined, () => {});
      expect(relay.hidden()).toBe(1);
      expect(o.store.select("chat_lost", { why: "sender_gap" })!.values.reduce((a, b) => a + b, 0)).toBe(1);
      expect(o.store.select("chat_lost")!.values.reduce((a, b) => a + b, 0)).toBe(1);
      expect(o.thresholds.find((t) => t.key === "chat_lost")!.ok).toBe(false);
      expect(o.code).toBe(99);
    } finally {
      relay.stop();
    }
  }, 90_000);

  test("chat through nginx while a replica is killed: its devices resume elsewhere, nothing lost, doubled or left unacked", async () => {
    const victim = stack.chats[1]!;
    const run = runScript(
      "chat.ts",
      { ...throughEdge(), MEMBERS: "24", RATE: "120", DURATION: "10", RAMP_SECONDS: "2", DRAIN_SECONDS: "3", P99_MS: "5000", UNEXPECTED_CLOSES_MAX: "24" },
      tlsEnv(),
    );
    await Bun.sleep(7000);
    await stack.kill(victim, "SIGKILL");
    const s = await run;
    await stack.restart(victim);
    expectAllThresholdsMet(s);
    // the kill was felt: some devices lost their socket without notice and came back
    expect(s.metrics.chat_unexpected_closes!.count!).toBeGreaterThan(0);
    expect(s.metrics.chat_lost!.count).toBe(0);
    expect(s.metrics.chat_duplicated!.count).toBe(0);
    expect(s.metrics.chat_deliveries!.count).toBe(s.metrics.chat_deliveries_expected!.count);
    expect(s.metrics.chat_sender_verified!.count!).toBeGreaterThan(0);
  }, 90_000);

  test("chat: devices left offline at the end, with messages waiting in their log, fail the run instead of passing unverified", async () => {
    const runId = `o${Date.now().toString(36).slice(-8)}`;
    const run = runScript("chat.ts", {
      ...direct(),
      RUN_ID: runId,
      MEMBERS: "8",
      RATE: "40",
      DURATION: "8",
      RAMP_SECONDS: "1",
      DRAIN_SECONDS: "1",
      P99_MS: "5000",
      UNEXPECTED_CLOSES_MAX: "100",
      TAIL_GRACE_MS: "500",
    });
    await Bun.sleep(6000);
    for (const chat of stack.chats) await stack.kill(chat, "SIGKILL");
    // with every replica gone the devices stay offline; a message sent over HTTP (the api's fallback)
    // waits in their members' logs (member 0 and 1 of the run share a conversation)
    const sender = new TestClient(stack.api.url);
    const handle = `lt${runId}c_0`;
    expect((await sender.post("/api/auth/login", { email: `${handle}@loadtest.example`, password: "load-test-password-1" })).status).toBe(200);
    const [conv] = (await sender.get("/api/conversations")).json.conversations as { id: string }[];
    expect((await sender.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv!.id, body: "while you were unreachable" })).status).toBeLessThan(300);
    const s = await run;
    await Promise.all(stack.chats.map((chat) => stack.restart(chat)));
    expect(s.exitCode).toBe(99);
    expect(s.metrics.chat_tail_unverified!.count!).toBeGreaterThan(0);
    expect(s.thresholds.find((t) => t.key === "chat_tail_unverified")!.ok).toBe(false);
  }, 90_000);

  test("api mix through nginx at a fixed arrival rate", async () => {
    const s = await runScript("api.ts", { ...throughEdge(), MEMBERS: "6", RATE: "10", DURATION: "4", MAX_VUS: "10", NOTIF_P99_MS: "1000", PROFILE_P99_MS: "1000", P99_MS: "2000" }, tlsEnv());
    expectAllThresholdsMet(s);
    expect(s.metrics.iterations!.count!).toBeGreaterThanOrEqual(30);
  }, 90_000);

  test("fanout: an operator broadcast through nginx with the operator's client certificate reaches every listener", async () => {
    const s = await runScript(
      "fanout.ts",
      {
        ...throughEdge(),
        LISTENERS: "9",
        ACTIONS: "2",
        ACTION_INTERVAL_SECONDS: "2",
        CONNECT_SECONDS: "3",
        ADMIN_EMAIL: admin.email,
        ADMIN_PASSWORD: admin.password,
        CLIENT_CERT: edge.operator.cert,
        CLIENT_KEY: edge.operator.key,
      },
      tlsEnv(),
    );
    expectAllThresholdsMet(s);
    expect(s.metrics.fanout_received!.count).toBe(18);
    expect(s.metrics.fanout_missed!.count).toBe(0);
    // each broadcast walked the run's 9 listeners, not every member the earlier tests made
    const sql = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const [users] = await sql<{ members: number }[]>`select count(*)::int as members from users`;
      expect(users!.members).toBeGreaterThan(30);
      const rows = await sql<{ segment: string; scanned: string }[]>`
        select segment, recipients_scanned::text as scanned from broadcasts order by id desc limit 2`;
      expect(rows.map((r) => [r.segment, Number(r.scanned)])).toEqual([
        ["joined_since", 9],
        ["joined_since", 9],
      ]);
    } finally {
      await sql.end();
    }
  }, 90_000);

  test("soak, briefly: devices drop and resume with their cursor while the api mix runs", async () => {
    const s = await runScript("soak.ts", { ...throughEdge(), MEMBERS: "6", RATE: "12", DURATION: "12", SESSION_SECONDS: "4", OFFLINE_SECONDS: "1", API_RATE: "3" }, tlsEnv());
    expectAllThresholdsMet(s);
    // more sessions than devices: each device went offline and resumed at least once
    expect(s.metrics.ws_sessions!.count!).toBeGreaterThan(6);
  }, 120_000);
});

test("fanout refuses a broadcast it cannot make in the init context, before setup() signs anyone up (exit 107)", async () => {
  const started = Date.now();
  const s = await runScript("fanout.ts", { BASE_URL: `http://127.0.0.1:${stack.api.port}`, WS_URL: "ws://127.0.0.1:1/ws", LISTENERS: "50" });
  expect(s.exitCode).toBe(107);
  expect(s.output).toContain("FANOUT_MODE=broadcast needs nginx");
  expect(s.output).toContain("init context");
  expect(Date.now() - started).toBeLessThan(20_000);
}, 30_000);

test("a script that opens sockets stops in the init context when WS_URL cannot be told from BASE_URL (exit 107)", async () => {
  const s = await runScript("smoke.ts", { BASE_URL: `http://127.0.0.1:${stack.api.port}` });
  expect(s.exitCode).toBe(107);
  expect(s.output).toContain("WS_URL is not set");
}, 30_000);

test("the emulator refuses a threshold on a metric no script defines, as k6 does (exit 104)", async () => {
  const script = join(dir, "bad-threshold.ts");
  writeFileSync(script, `export const options = { thresholds: { chat_lsot: ["count==0"] } };\nexport default function () {}\n`);
  const proc = Bun.spawn([process.execPath, resolve(REPO, "loadtest/emulator/run.ts"), script], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(104);
  expect(out).toContain("chat_lsot");
}, 30_000);

/**
 * A WebSocket relay to one replica that hides the `nth` message event written by another load-test
 * device from the first socket to receive that many, and from then on numbers that socket's events (and
 * `synced`) one lower and its acks and resume cursors one higher: to the client, that member's
 * stream simply never held the message.
 */
function seqHidingRelay(replicaPort: number, nth: number) {
  let hidden = 0;
  type Link = { upstream: WebSocket; queue: string[]; offset: number; deviceMessages: number; clientId: string };
  const server = Bun.serve<Link>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, srv) {
      const headers = { Cookie: req.headers.get("cookie") ?? "", Origin: req.headers.get("origin") ?? "" };
      const upstream = new WebSocket(`ws://127.0.0.1:${replicaPort}/ws`, { headers } as never);
      return srv.upgrade(req, { data: { upstream, queue: [], offset: 0, deviceMessages: 0, clientId: "" } }) ? undefined : new Response("no upgrade", { status: 400 });
    },
    websocket: {
      open(ws) {
        const link = ws.data;
        link.upstream.onopen = () => link.queue.splice(0).forEach((m) => link.upstream.send(m));
        link.upstream.onmessage = (e) => {
          const f = JSON.parse(String(e.data));
          const writer = /^k6 (\S+) #/.exec(String(f.data?.body))?.[1];
          const fromAnother = f.type === "event" && f.kind === "message" && writer !== undefined && writer !== link.clientId;
          if (fromAnother && ++link.deviceMessages === nth && hidden === 0) {
            hidden++;
            link.offset = 1;
            return;
          }
          if ((f.type === "event" || f.type === "synced") && typeof f.seq === "number") f.seq -= link.offset;
          ws.send(JSON.stringify(f));
        };
        link.upstream.onclose = (e) => ws.close(e.code === 1005 || e.code === 1006 ? 1011 : e.code, e.reason);
      },
      message(ws, raw) {
        const link = ws.data;
        const f = JSON.parse(String(raw));
        if (f.type === "ack" && typeof f.seq === "number") f.seq += link.offset;
        if (f.type === "hello") link.clientId = String(f.clientId);
        if (f.type === "hello" && f.resume) f.resume.cursor += link.offset;
        const out = JSON.stringify(f);
        if (link.upstream.readyState === WebSocket.OPEN) link.upstream.send(out);
        else link.queue.push(out);
      },
      close(ws) {
        ws.data.upstream.close();
      },
    },
  });
  return { url: `ws://127.0.0.1:${server.port}/ws`, hidden: () => hidden, stop: () => server.stop(true) };
}
