/**
 * The nginx edge for tests: renders nginx/render.ts for the local target in front of processes that
 * already listen on loopback ports, with development certificates of its own, on free ports, and
 * runs the real nginx binary from PATH as a child process (own prefix, pid and temp directories).
 *
 * The services themselves come from tests/harness/stack.ts (or any process listening on loopback).
 * Also: TLS-aware fetch/WebSocket helpers that trust the test CA and can present a client certificate.
 */
import { spawn } from "bun";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { detectNginx, optionsFromEnv, prepareLocalPrefix, renderNginxConfig, type RenderOptions } from "../../nginx/render.ts";
import { ensureDevCerts, issueClient, revokeClient, type CertPaths } from "../../scripts/certs.ts";
import { readBody } from "./body.ts";
import { freePort } from "./stack.ts";

export const REPO = resolve(import.meta.dir, "../..");

/** nginx from NGINX_BIN, PATH, or the usual sbin locations (not always on a user's PATH). */
export function nginxBin(): string {
  const found = process.env.NGINX_BIN || Bun.which("nginx") || ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
  if (!found) throw new Error("nginx is not installed: the edge tests run the real nginx (Debian: apt-get install nginx), or set NGINX_BIN");
  return found;
}

export { freePort };

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
}

/** Feeds a child's output stream to `onText` until it ends. */
export async function readText(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onText(decoder.decode(value, { stream: true }));
  }
}

// ---------------------------------------------------------------------------------------------
// nginx

export interface EdgeOptions {
  apiPort: number;
  chatPorts: number[];
  /** Extra environment for the renderer (EDGE_* limits and the like). */
  env?: Record<string, string>;
}

export interface Edge {
  /** https://localhost:<port> */
  url: string;
  origin: string;
  httpsPort: number;
  httpPort: number;
  certs: CertPaths;
  operator: { cert: string; key: string };
  ca: string;
  options: RenderOptions;
  output(): string;
  /** Reads its configuration and certificates again (SIGHUP); new connections get the new ones. */
  reload(): void;
  /** A graceful stop (SIGQUIT, what `docker stop` sends it): ms until nginx exited. */
  quit(): Promise<number>;
  stop(): Promise<void>;
}

export interface EdgePorts {
  httpsPort: number;
  httpPort: number;
}

export async function reserveEdgePorts(): Promise<EdgePorts> {
  return { httpsPort: await freePort(), httpPort: await freePort() };
}

export async function startEdge(opts: EdgeOptions, ports?: EdgePorts): Promise<Edge> {
  const { httpsPort, httpPort } = ports ?? (await reserveEdgePorts());
  const dir = resolve(REPO, ".tmp", `edge-${process.pid}-${httpsPort}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const certs = ensureDevCerts({ dir: resolve(dir, "certs") });
  const bin = nginxBin();
  const features = detectNginx(bin);
  const options = optionsFromEnv("local", features, {
    ...process.env,
    CERTS_DIR: certs.dir,
    NGINX_PREFIX_DIR: resolve(dir, "nginx"),
    NGINX_HTTPS_PORT: String(httpsPort),
    NGINX_HTTP_PORT: String(httpPort),
    NGINX_LISTEN_ADDRESSES: "127.0.0.1",
    NGINX_WORKER_PROCESSES: "1",
    API_PORT: String(opts.apiPort),
    ...opts.env,
  });
  options.chat = opts.chatPorts.length ? opts.chatPorts.map((p) => `127.0.0.1:${p}`) : ["127.0.0.1:1"];
  prepareLocalPrefix(options);
  const conf = resolve(options.prefixDir, "nginx.conf");
  writeFileSync(conf, renderNginxConfig(options));

  const proc = spawn([bin, "-p", options.prefixDir, "-c", conf, "-e", "stderr"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const keep = (text: string) => (out = (out + text).slice(-50000));
  void readText(proc.stdout as ReadableStream<Uint8Array>, keep);
  void readText(proc.stderr as ReadableStream<Uint8Array>, keep);

  const operator = certs.client("operator");
  const ca = readFileSync(certs.caCert, "utf8");
  const url = `https://localhost:${httpsPort}`;
  const edge: Edge = {
    url,
    origin: url,
    httpsPort,
    httpPort,
    certs,
    operator: { cert: operator.cert, key: operator.key },
    ca,
    options,
    output: () => out,
    reload: () => proc.kill("SIGHUP"),
    async quit() {
      const at = performance.now();
      proc.kill("SIGQUIT");
      await proc.exited;
      return performance.now() - at;
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await proc.exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(`nginx on ${httpsPort}`, async () => {
      if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${out.slice(-2000)}`);
      const res = await fetch(`${url}/nginx-healthz`, { tls: { ca } });
      return res.status === 200;
    });
  } catch (err) {
    await edge.stop();
    throw err;
  }
  return edge;
}

export function issueTestClientCert(edge: Edge, name: string) {
  return issueClient(edge.certs, name);
}

export function revokeTestClientCert(edge: Edge, name: string): void {
  revokeClient(edge.certs, name);
}

// ---------------------------------------------------------------------------------------------
// Clients

export interface TlsClientOptions {
  /** Present this client certificate (paths to PEM files). */
  clientCert?: { cert: string; key: string };
  /** Trust this CA instead of the edge's. */
  ca?: string;
}

export function tlsOptions(edge: Edge, opts: TlsClientOptions = {}) {
  return {
    ca: opts.ca ?? edge.ca,
    ...(opts.clientCert ? { cert: readFileSync(opts.clientCert.cert, "utf8"), key: readFileSync(opts.clientCert.key, "utf8") } : {}),
  };
}

/** fetch through the edge, trusting its CA. */
export function edgeFetch(edge: Edge, path: string, init: RequestInit = {}, opts: TlsClientOptions = {}): Promise<Response> {
  return fetch(edge.url + path, { redirect: "manual", ...init, tls: tlsOptions(edge, opts) } as RequestInit);
}

/** A cookie-keeping member session through the edge. */
export class EdgeClient {
  cookies = new Map<string, string>();
  constructor(readonly edge: Edge, readonly tls: TlsClientOptions = {}) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { origin: this.edge.origin, ...headers };
    if (body !== undefined) h["content-type"] = "application/json";
    if (this.cookies.size) h.cookie = this.cookieHeader;
    const res = await edgeFetch(this.edge, path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) }, this.tls);
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0/i.test(sc) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const { text, json } = await readBody(res);
    return { status: res.status, json, text, headers: res.headers };
  }

  /** Opens /ws through the edge with this member's cookie; resolves once the socket is open. */
  openSocket(path = "/ws"): Promise<WebSocket> {
    const wsUrl = this.edge.url.replace(/^https/, "wss") + path;
    const ws = new WebSocket(wsUrl, {
      headers: { origin: this.edge.origin, cookie: this.cookieHeader },
      tls: tlsOptions(this.edge, this.tls),
    } as unknown as string[]);
    return new Promise((resolvePromise, reject) => {
      ws.addEventListener("open", () => resolvePromise(ws), { once: true });
      ws.addEventListener("error", () => reject(new Error(`WebSocket to ${wsUrl} failed`)), { once: true });
      ws.addEventListener("close", (e) => reject(new Error(`WebSocket to ${wsUrl} closed: ${e.code} ${e.reason}`)), { once: true });
    });
  }
}

let counter = 0;
export function newMemberBody() {
  const n = `${Date.now().toString(36).slice(-5)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 5)}`;
  return {
    email: `e_${n}@example.test`,
    handle: `e_${n}`.slice(0, 30),
    password: "correct horse battery",
    birthDate: "1990-04-01",
    acceptTerms: true,
  };
}

/** Waits for the next JSON frame matching `pred`. */
export function nextFrame(ws: WebSocket, pred: (f: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      ws.removeEventListener("message", onMessage);
      reject(new Error("timed out waiting for a frame"));
    }, timeoutMs);
    const onMessage = (e: MessageEvent) => {
      let frame: any;
      try {
        frame = JSON.parse(String(e.data));
      } catch {
        return;
      }
      if (!pred(frame)) return;
      clearTimeout(timer);
      ws.removeEventListener("message", onMessage);
      resolvePromise(frame);
    };
    ws.addEventListener("message", onMessage);
  });
}
