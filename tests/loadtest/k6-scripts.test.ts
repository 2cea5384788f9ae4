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
  expect(s.exitCode).toBe(0);
  expect(s.iterations.failed).toBe(0);
}

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

  test("chat straight to the 3 replicas: delivered, none lost or duplicated, every send acked", async () => {
    const s = await runScript("chat.ts", {
      BASE_URL: `http://127.0.0.1:${stack.api.port}`,
      ORIGIN: "http://localhost:3000",
      WS_URL: stack.chats.map((c) => `ws://127.0.0.1:${c.port}/ws`).join(","),
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
  }, 90_000);

  test("chat: devices left offline at the end, with messages waiting in their log, fail the run instead of passing unverified", async () => {
    const runId = `o${Date.now().toString(36).slice(-8)}`;
    const run = runScript("chat.ts", {
      BASE_URL: `http://127.0.0.1:${stack.api.port}`,
      ORIGIN: "http://localhost:3000",
      WS_URL: stack.chats.map((c) => `ws://127.0.0.1:${c.port}/ws`).join(","),
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
  }, 90_000);

  test("soak, briefly: devices drop and resume with their cursor while the api mix runs", async () => {
    const s = await runScript("soak.ts", { ...throughEdge(), MEMBERS: "6", RATE: "12", DURATION: "12", SESSION_SECONDS: "4", OFFLINE_SECONDS: "1", API_RATE: "3" }, tlsEnv());
    expectAllThresholdsMet(s);
    // more sessions than devices: each device went offline and resumed at least once
    expect(s.metrics.ws_sessions!.count!).toBeGreaterThan(6);
  }, 120_000);
});

test("the emulator refuses a threshold on a metric no script defines, as k6 does (exit 104)", async () => {
  const script = join(dir, "bad-threshold.ts");
  writeFileSync(script, `export const options = { thresholds: { chat_lsot: ["count==0"] } };\nexport default function () {}\n`);
  const proc = Bun.spawn([process.execPath, resolve(REPO, "loadtest/emulator/run.ts"), script], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(104);
  expect(out).toContain("chat_lsot");
}, 30_000);
