/**
 * The runner's side of a VU's blocking HTTP call: makes the requests (in parallel for a batch),
 * records k6's http_req_* samples, and answers through the VU's shared buffer.
 */
import type { MetricStore, Tags } from "./metrics.ts";
import { BRIDGE_BYTES, type HttpRequestSpec, type HttpResponseData, type TlsSettings } from "./protocol.ts";

function isExpected(status: number, expected: HttpRequestSpec["expected"]): boolean {
  return (expected ?? []).some((e) => (typeof e === "number" ? e === status : status >= e.min && status <= e.max));
}

function failure(spec: HttpRequestSpec, started: number, err: unknown): HttpResponseData {
  const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
  return {
    status: 0,
    statusText: "",
    url: spec.url,
    body: "",
    headers: [],
    durationMs: Date.now() - started,
    waitingMs: 0,
    // k6's error codes: 1050 request timeout, 1000 any other network error
    error: timedOut ? "request timeout" : err instanceof Error ? err.message : String(err),
    errorCode: timedOut ? 1050 : 1000,
  };
}

async function perform(spec: HttpRequestSpec, tls: TlsSettings | null): Promise<HttpResponseData> {
  const started = performance.now();
  const wall = Date.now();
  try {
    const res = await fetch(spec.url, {
      method: spec.method,
      headers: spec.headers,
      body: spec.body,
      redirect: spec.redirects > 0 ? "follow" : "manual",
      signal: AbortSignal.timeout(spec.timeoutMs),
      ...(spec.url.startsWith("https:") && tls
        ? { tls: { rejectUnauthorized: !tls.insecureSkipTLSVerify, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.clientCert ?? {}) } }
        : {}),
    });
    const waitingMs = performance.now() - started;
    const body = await res.text();
    const headers: Array<[string, string]> = [];
    res.headers.forEach((value, name) => {
      if (name.toLowerCase() !== "set-cookie") headers.push([name, value]);
    });
    for (const c of res.headers.getSetCookie()) headers.push(["set-cookie", c]);
    return { status: res.status, statusText: res.statusText, url: res.url || spec.url, body, headers, durationMs: performance.now() - started, waitingMs, error: "", errorCode: 0 };
  } catch (err) {
    return failure(spec, wall, err);
  }
}

function record(store: MetricStore, spec: HttpRequestSpec, r: HttpResponseData): void {
  const tags: Tags = { ...spec.tags, status: String(r.status) };
  if (spec.expected) tags.expected_response = String(isExpected(r.status, spec.expected));
  store.add({ metric: "http_reqs", type: "counter", isTime: false, value: 1, tags });
  store.add({ metric: "http_req_duration", type: "trend", isTime: true, value: r.durationMs, tags });
  store.add({ metric: "http_req_waiting", type: "trend", isTime: true, value: r.waitingMs, tags });
  if (spec.expected) store.add({ metric: "http_req_failed", type: "rate", isTime: false, value: isExpected(r.status, spec.expected) ? 0 : 1, tags });
}

/** Encodes the answers into the bridge buffer; bodies are dropped (with an error) when they do not fit. */
function encode(answers: HttpResponseData[]): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(answers));
  if (bytes.length <= BRIDGE_BYTES) return bytes;
  const trimmed = answers.map((a) => ({ ...a, body: "", error: `response bodies over ${BRIDGE_BYTES} bytes in one call do not fit the emulator's bridge`, errorCode: 1000 }));
  return new TextEncoder().encode(JSON.stringify(trimmed));
}

/** k6's `batch` (20) and `batchPerHost` (6): how many requests of one http.batch run at once. */
export interface BatchLimits {
  total: number;
  perHost: number;
}

/** Runs the requests at most `limits.total` at once and `limits.perHost` per host; answers in order. */
function performAll(requests: HttpRequestSpec[], tls: TlsSettings | null, limits: BatchLimits): Promise<HttpResponseData[]> {
  const answers: HttpResponseData[] = new Array(requests.length);
  const started = new Array<boolean>(requests.length).fill(false);
  const hosts = requests.map((r) => (URL.canParse(r.url) ? new URL(r.url).host : r.url));
  const perHost = new Map<string, number>();
  let running = 0;
  let finished = 0;
  return new Promise((resolve) => {
    const startWhatFits = (): void => {
      for (let i = 0; i < requests.length && running < limits.total; i++) {
        const host = hosts[i]!;
        if (started[i] || (perHost.get(host) ?? 0) >= limits.perHost) continue;
        started[i] = true;
        running++;
        perHost.set(host, (perHost.get(host) ?? 0) + 1);
        void perform(requests[i]!, tls).then((r) => {
          answers[i] = r;
          running--;
          perHost.set(host, perHost.get(host)! - 1);
          if (++finished === requests.length) resolve(answers);
          else startWhatFits();
        });
      }
    };
    startWhatFits();
  });
}

export async function answerHttp(requests: HttpRequestSpec[], tls: TlsSettings | null, limits: BatchLimits, store: MetricStore, signal: Int32Array, data: Uint8Array): Promise<void> {
  const answers = await performAll(requests, tls, limits);
  requests.forEach((spec, i) => record(store, spec, answers[i]!));
  const bytes = encode(answers);
  data.set(bytes);
  Atomics.store(signal, 1, bytes.length);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}
