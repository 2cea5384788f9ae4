/**
 * The whole system for real-browser tests: the api and chat replicas as processes
 * (tests/harness/stack.ts), the nginx edge over TLS in front of them (tests/harness/edge.ts), and
 * Debian's Chromium driven by playwright-core. Members are registered against the api directly
 * (no login rate limit in the way) and their session cookie is handed to the browser context.
 */
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from "playwright-core";
import { readBody } from "../harness/body.ts";
import { reserveEdgePorts, startEdge, type Edge, type EdgePorts } from "../harness/edge.ts";
import { startStack, type Stack } from "../harness/stack.ts";

export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const CHAT_ENTRY = new URL("../../services/backend-chat/src/main.ts", import.meta.url).pathname;
const WORKER_ENTRY = new URL("../../services/notification-worker/src/main.ts", import.meta.url).pathname;

/** Why the browser tests cannot run here, or null. */
export function missing(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
  if (!Bun.which(process.env.NGINX_BIN ?? "nginx")) return "no nginx on PATH (apt-get install -y nginx)";
  if (!existsSync(CHAT_ENTRY)) return "the chat tier (services/backend-chat) is not there yet";
  return null;
}
export const hasWorker = () => existsSync(WORKER_ENTRY);

export interface Web {
  stack: Stack;
  edge: Edge;
  /** a second edge whose /ws reaches no chat replica: WebSockets cannot connect through it */
  noWsEdge?: Edge;
  browser: Browser;
  stop(): Promise<void>;
}

export async function startWeb(opts: { worker?: boolean; noWsEdge?: boolean; env?: Record<string, string> } = {}): Promise<Web> {
  const ports: EdgePorts = await reserveEdgePorts();
  const noWsPorts = opts.noWsEdge ? await reserveEdgePorts() : null;
  const origins = [`https://localhost:${ports.httpsPort}`, ...(noWsPorts ? [`https://localhost:${noWsPorts.httpsPort}`] : [])];
  const stack = await startStack({
    chatReplicas: 2,
    worker: opts.worker,
    env: { PUBLIC_ORIGINS: origins.join(","), TRUSTED_PROXIES: "127.0.0.1,::1", ...opts.env },
  });
  let edge: Edge | undefined;
  let noWsEdge: Edge | undefined;
  let browser: Browser | undefined;
  try {
    edge = await startEdge({ apiPort: stack.api.port, chatPorts: stack.chats.map((c) => c.port) }, ports);
    if (noWsPorts) noWsEdge = await startEdge({ apiPort: stack.api.port, chatPorts: [] }, noWsPorts);
    // Trust exactly the edges' server keys (test certificates) everywhere in the browser: pages,
    // and the SharedWorker too, which a context's ignoreHTTPSErrors does not cover.
    const spki = [edge, noWsEdge].filter((e): e is Edge => !!e).map((e) => spkiHash(e.certs.serverCert));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [`--ignore-certificate-errors-spki-list=${spki.join(",")}`, "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    });
  } catch (err) {
    await noWsEdge?.stop();
    await edge?.stop();
    await stack.stop();
    throw err;
  }
  return {
    stack,
    edge,
    noWsEdge,
    browser,
    async stop() {
      await browser!.close().catch(() => {});
      await noWsEdge?.stop();
      await edge!.stop();
      await stack.stop();
    },
  };
}

function spkiHash(certPath: string): string {
  const der = new X509Certificate(readFileSync(certPath)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

export interface Member {
  id: string;
  handle: string;
  email: string;
  password: string;
  sid: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
}

let n = 0;
/** Registers a member through the api (as a browser on `origin` would) and keeps their session. */
export async function register(web: Web, origin = web.edge.origin): Promise<Member> {
  const tag = `${Date.now().toString(36).slice(-5)}${(n++).toString(36)}${Math.random().toString(36).slice(2, 5)}`;
  const body = { email: `w_${tag}@example.test`, handle: `w_${tag}`, password: "correct horse battery", birthDate: "1990-04-01", acceptTerms: true };
  const res = await fetch(`${web.stack.api.url}/api/auth/register`, {
    method: "POST",
    headers: { origin, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  const sid = res.headers.getSetCookie().join(";").match(/__Host-sid=([^;]+)/)![1]!;
  const { user } = (await res.json()) as { user: { id: string } };
  return {
    id: user.id,
    handle: body.handle,
    email: body.email,
    password: body.password,
    sid,
    async call(method, path, payload) {
      const r = await fetch(web.stack.api.url + path, {
        method,
        headers: { origin, cookie: `__Host-sid=${sid}`, ...(payload === undefined ? {} : { "content-type": "application/json" }) },
        body: payload === undefined ? undefined : JSON.stringify(payload),
      });
      return { status: r.status, json: (await readBody(r)).json };
    },
  };
}

/** A browser profile (own cookies, storage, SharedWorker) signed in as `m`. */
export async function signedIn(web: Web, m: Member, opts: { origin?: string; noSharedWorker?: boolean; viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
  const origin = opts.origin ?? web.edge.origin;
  const ctx = await web.browser.newContext({ ignoreHTTPSErrors: true, viewport: opts.viewport ?? { width: 1000, height: 800 } });
  await ctx.addCookies([{ name: "__Host-sid", value: m.sid, url: origin + "/", secure: true, httpOnly: true, sameSite: "Lax" }]);
  if (opts.noSharedWorker) {
    // Like Android Chrome and many WebViews: no SharedWorker at all.
    await ctx.addInitScript(() => {
      delete (globalThis as { SharedWorker?: unknown }).SharedWorker;
    });
  }
  return ctx;
}

/**
 * Network emulation for the context's shared workers too: a context's setOffline reaches its pages
 * (and their `offline` events) but not a SharedWorker, so its target is told over CDP as well —
 * only this context's workers (another member's browser stays online), and the session is detached
 * once back online (an attached worker outlives its pages, and new pages of the profile then never
 * connect to it).
 */
const workerEmulation = new WeakMap<BrowserContext, { send: (method: string, params: object) => Promise<unknown>; detach: () => Promise<unknown> }[]>();

async function contextIdOf(ctx: BrowserContext): Promise<string> {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const cdp = await ctx.newCDPSession(page);
  try {
    const { targetInfo } = (await cdp.send("Target.getTargetInfo")) as { targetInfo: { browserContextId: string } };
    return targetInfo.browserContextId;
  } finally {
    await cdp.detach().catch(() => {});
  }
}

export async function setOffline(web: Web, ctx: BrowserContext, offline: boolean): Promise<void> {
  // (the context's id is read first: a CDP session opened on a page after setOffline undid it)
  const contextId = offline && !workerEmulation.has(ctx) ? await contextIdOf(ctx) : null;
  await ctx.setOffline(offline);
  const conditions = { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 };
  let sessions = workerEmulation.get(ctx);
  if (!sessions) {
    if (!offline) return;
    sessions = [];
    const cdp = await web.browser.newBrowserCDPSession();
    const { targetInfos } = (await cdp.send("Target.getTargets")) as { targetInfos: { targetId: string; type: string; browserContextId?: string }[] };
    for (const t of targetInfos.filter((x) => x.type === "shared_worker" && x.browserContextId === contextId)) {
      const { sessionId } = (await cdp.send("Target.attachToTarget", { targetId: t.targetId, flatten: false })) as { sessionId: string };
      let id = 1;
      const send = (method: string, params: object) =>
        cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id: id++, method, params }) });
      await send("Network.enable", {});
      sessions.push({ send, detach: () => cdp.send("Target.detachFromTarget", { sessionId }) });
    }
    workerEmulation.set(ctx, sessions);
  }
  for (const s of sessions) await s.send("Network.emulateNetworkConditions", conditions);
  if (!offline) {
    for (const s of sessions) await s.detach().catch(() => {});
    workerEmulation.delete(ctx);
  }
}

/** Total sockets and members the chat replicas report in /status. */
export async function chatCounts(web: Web): Promise<{ sockets: number; members: number }> {
  let sockets = 0;
  let members = 0;
  for (const c of web.stack.chats) {
    const s = (await (await fetch(`${c.url}/status`)).json()) as { sockets?: number; members?: number };
    sockets += s.sockets ?? 0;
    members += s.members ?? 0;
  }
  return { sockets, members };
}

export async function until<T>(what: string, fn: () => Promise<T | false | null | undefined>, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** The real-time mode a tab shows (ws, http, offline, …). */
export const modeOf = (page: Page) => page.evaluate(() => document.body.dataset.rt ?? "");
export const transportOf = (page: Page) => page.evaluate(() => (globalThis as any).__xplicitRealtime?.transport ?? "");
/** The message texts a conversation tab shows, top to bottom. */
export const threadOf = (page: Page) => page.$$eval("#thread li .text", (els) => els.map((e) => e.textContent ?? ""));

export async function conversationBetween(a: Member, b: Member): Promise<string> {
  const r = await a.call("POST", "/api/conversations", { handles: [b.handle] });
  if (r.status >= 300) throw new Error(`conversation: ${r.status} ${JSON.stringify(r.json)}`);
  return String(r.json.conversation.id);
}

export async function sendOverHttp(from: Member, conversationId: string, body: string): Promise<void> {
  const r = await from.call("POST", "/api/messages", { id: crypto.randomUUID(), conversationId, body });
  if (r.status !== 200) throw new Error(`send: ${r.status} ${JSON.stringify(r.json)}`);
}
