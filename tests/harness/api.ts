/**
 * Starts the real api (real Postgres, real Redis, a real TCP server on a free port) inside the
 * test process, and a small cookie-keeping HTTP client that speaks to it like a browser would.
 */
import { afterAll, beforeAll } from "bun:test";
import { loadConfig, type Config } from "@xplicit/shared/config";
import { createApp, type AppOptions } from "../../services/api/src/app.ts";
import { createApiDeps, type ApiDeps } from "../../services/api/src/deps.ts";
import { readBody } from "./body.ts";

export const ORIGIN = "http://localhost:3000";

export interface TestApi {
  url: string;
  deps: ApiDeps;
  client(): TestClient;
  stop(): Promise<void>;
}

export async function startTestApi(env: Record<string, string> = {}, opts: AppOptions = {}): Promise<TestApi> {
  const config: Config = loadConfig({ ...process.env, ...env });
  const deps = createApiDeps({ ...config, databasePoolSize: 5 }, "test-api");
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: createApp(deps, opts).fetch, idleTimeout: 60 });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    deps,
    client: () => new TestClient(url),
    async stop() {
      server.stop(true);
      await deps.close();
    },
  };
}

/** A started api as a test file uses it (stopping is the file's afterAll, not the tests'). */
export type RunningApi = Omit<TestApi, "stop">;

/**
 * The real api for one test file: started before its tests, stopped after them. `worker` also
 * runs the notification worker's consumers (with that environment) in the test process. The handle
 * can be taken at load time and used from the tests.
 */
export function useTestApi(env: Record<string, string> = {}, opts: { worker?: Record<string, string> } = {}): RunningApi {
  let api: TestApi | null = null;
  let stopWorker: (() => Promise<void>) | null = null;
  beforeAll(async () => {
    api = await startTestApi(env);
    if (opts.worker) {
      // imported here: the worker harness itself builds on this file
      const { startInProcessWorker } = await import("../notifications/in-process-worker.ts");
      const worker = await startInProcessWorker(opts.worker);
      stopWorker = () => worker.stop();
    }
  });
  afterAll(async () => {
    await stopWorker?.();
    await api?.stop();
  });
  const started = (): TestApi => {
    if (!api) throw new Error("the api is started in beforeAll: use it from a test");
    return api;
  };
  return {
    get url() {
      return started().url;
    },
    get deps() {
      return started().deps;
    },
    client: () => started().client(),
  };
}

export interface RequestOptions {
  origin?: string | null;
  contentType?: string | null;
  rawBody?: string;
  headers?: Record<string, string>;
}

export class TestClient {
  cookies = new Map<string, string>();
  lastSetCookie: string[] = [];
  constructor(readonly baseUrl: string) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<{ status: number; json: any; headers: Headers }> {
    const headers: Record<string, string> = { ...opts.headers };
    const origin = opts.origin === undefined ? ORIGIN : opts.origin;
    if (origin !== null) headers.origin = origin;
    const text = opts.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    if (text !== undefined) {
      const type = opts.contentType === undefined ? "application/json" : opts.contentType;
      if (type !== null) headers["content-type"] = type;
    }
    if (this.cookies.size) headers.cookie = this.cookieHeader;
    const res = await fetch(this.baseUrl + path, { method, headers, body: text });
    this.lastSetCookie = res.headers.getSetCookie();
    for (const sc of this.lastSetCookie) {
      const [pair] = sc.split(";");
      const [name, ...rest] = pair!.split("=");
      const value = rest.join("=");
      if (/Max-Age=0/i.test(sc) || value === "") this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), value);
    }
    const { json } = await readBody(res);
    return { status: res.status, json, headers: res.headers };
  }

  get = (path: string, opts?: RequestOptions) => this.request("GET", path, undefined, opts);
  post = (path: string, body?: unknown, opts?: RequestOptions) => this.request("POST", path, body ?? {}, opts);
  patch = (path: string, body?: unknown, opts?: RequestOptions) => this.request("PATCH", path, body ?? {}, opts);
  put = (path: string, body?: unknown, opts?: RequestOptions) => this.request("PUT", path, body ?? {}, opts);
  del = (path: string, opts?: RequestOptions) => this.request("DELETE", path, undefined, opts);
}

let counter = 0;
/** A unique, valid registration. */
export function newMember(overrides: Record<string, unknown> = {}) {
  const n = `${Date.now().toString(36).slice(-5)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 5)}`;
  return {
    email: `m_${n}@example.test`,
    handle: `m_${n}`.slice(0, 30),
    password: "correct horse battery",
    birthDate: "1990-04-01",
    acceptTerms: true,
    ...overrides,
  };
}

export async function registeredClient(api: RunningApi, overrides: Record<string, unknown> = {}) {
  const client = api.client();
  const reg = newMember(overrides);
  const res = await client.post("/api/auth/register", reg);
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.json)}`);
  return { client, reg, user: res.json.user as { id: string; handle: string } };
}
