/**
 * `k6/http`: blocking requests (the runner makes them while this VU waits), the VU's cookie jar,
 * k6's response object, expectedStatuses and batch.
 */
import type { HttpRequestSpec, HttpResponseData } from "../protocol.ts";
import { parseDuration } from "../scenarios.ts";
import { CookieJar, cookieHeader, parseSetCookie, type CookieParam, type ParsedSetCookie } from "./cookies.ts";
import { blockingHttp, systemTags } from "./runtime.ts";

export { CookieJar };

type Expected = Array<number | { min: number; max: number }>;

/** What `http.expectedStatuses(…)` returns: k6 reads it as the response callback. */
class ExpectedStatuses {
  constructor(readonly statuses: Expected) {}
}

export function expectedStatuses(...statuses: Expected): ExpectedStatuses {
  return new ExpectedStatuses(statuses);
}

let defaultExpected: Expected | null = [{ min: 200, max: 399 }];

export function setResponseCallback(cb: ExpectedStatuses | null): void {
  defaultExpected = cb ? cb.statuses : null;
}

interface Params {
  headers?: Record<string, string>;
  cookies?: Record<string, CookieParam>;
  jar?: CookieJar | null;
  tags?: Record<string, string>;
  timeout?: string | number;
  redirects?: number;
  responseType?: "text" | "binary" | "none";
  responseCallback?: ExpectedStatuses | null;
}

type Body = string | Record<string, unknown> | null | undefined;

const vuJar = new CookieJar();

export function cookieJar(): CookieJar {
  return vuJar;
}

/** Go's canonical header name: Content-Type, Set-Cookie, X-Request-Id. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** k6's request timeout: a duration ("30s") or milliseconds; 60 s when not given. */
function timeoutMs(t: string | number | undefined): number {
  return t === undefined ? 60_000 : parseDuration(t, "params.timeout");
}

function encodeBody(body: Body, headers: Record<string, string>): string | null {
  if (body === null || body === undefined) return null;
  if (typeof body === "string") return body;
  // k6 sends an object as a form
  if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["Content-Type"] = "application/x-www-form-urlencoded";
  return new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString();
}

function specFor(method: string, url: string, body: Body, params: Params = {}): HttpRequestSpec {
  const headers: Record<string, string> = { "User-Agent": "k6-emulator (Xplicit loadtest/emulator)", ...(params.headers ?? {}) };
  const jar = params.jar === undefined ? vuJar : params.jar;
  const cookie = cookieHeader(jar, url, params.cookies ?? {});
  if (cookie) headers.Cookie = cookie;
  const encoded = encodeBody(body, headers);
  const expected = params.responseCallback === undefined ? defaultExpected : params.responseCallback ? params.responseCallback.statuses : null;
  return {
    method: method.toUpperCase(),
    url,
    body: encoded,
    headers,
    timeoutMs: timeoutMs(params.timeout),
    redirects: params.redirects ?? 10,
    // k6 tags `url` with the request's `name` when one is given (so one name is one series)
    tags: { ...systemTags(), name: url, method: method.toUpperCase(), url: params.tags?.name ?? url, ...(params.tags ?? {}) },
    expected,
  };
}

export interface Response {
  status: number;
  status_text: string;
  url: string;
  body: string | null;
  headers: Record<string, string>;
  cookies: Record<string, ParsedSetCookie[]>;
  timings: { duration: number; waiting: number };
  error: string;
  error_code: number;
  request: { method: string; url: string; headers: Record<string, string[]>; body: string };
  json(selector?: string): unknown;
}

function toResponse(spec: HttpRequestSpec, data: HttpResponseData, params: Params): Response {
  const headers: Record<string, string> = {};
  const cookies: Record<string, ParsedSetCookie[]> = {};
  const jar = params.jar === undefined ? vuJar : params.jar;
  for (const [name, value] of data.headers) {
    const key = canonical(name);
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    if (key === "Set-Cookie") {
      const parsed = parseSetCookie(value);
      if (!parsed) continue;
      (cookies[parsed.name] ??= []).push(parsed);
      jar?.storeFrom(data.url || spec.url, parsed);
    }
  }
  const body = params.responseType === "none" ? null : data.body;
  return {
    status: data.status,
    status_text: data.statusText,
    url: data.url || spec.url,
    body,
    headers,
    cookies,
    timings: { duration: data.durationMs, waiting: data.waitingMs },
    error: data.error,
    error_code: data.errorCode,
    request: { method: spec.method, url: spec.url, headers: Object.fromEntries(Object.entries(spec.headers).map(([k, v]) => [k, [v]])), body: spec.body ?? "" },
    json(selector?: string): unknown {
      if (selector !== undefined) throw new Error("the emulator's res.json() takes no selector");
      if (body === null) throw new Error("the response has no body");
      return JSON.parse(body);
    },
  };
}

export function request(method: string, url: string, body?: Body, params: Params = {}): Response {
  const spec = specFor(method, url, body, params);
  const [data] = blockingHttp([spec]);
  return toResponse(spec, data!, params);
}

export const get = (url: string, params?: Params): Response => request("GET", url, null, params);
export const head = (url: string, params?: Params): Response => request("HEAD", url, null, params);
export const post = (url: string, body?: Body, params?: Params): Response => request("POST", url, body, params);
export const put = (url: string, body?: Body, params?: Params): Response => request("PUT", url, body, params);
export const patch = (url: string, body?: Body, params?: Params): Response => request("PATCH", url, body, params);
export const del = (url: string, body?: Body, params?: Params): Response => request("DELETE", url, body, params);
export const options = (url: string, body?: Body, params?: Params): Response => request("OPTIONS", url, body, params);

type BatchItem = string | [string, string, Body?, Params?] | { method: string; url: string; body?: Body; params?: Params };

/** The requests run in parallel; the answers come back in the order asked (arrays only here). */
export function batch(items: BatchItem[]): Response[] {
  if (!Array.isArray(items)) throw new Error("the emulator's http.batch takes an array");
  const parts = items.map((it) => {
    if (typeof it === "string") return { method: "GET", url: it, body: null as Body, params: {} as Params };
    if (Array.isArray(it)) return { method: it[0], url: it[1], body: it[2] ?? null, params: it[3] ?? {} };
    return { method: it.method, url: it.url, body: it.body ?? null, params: it.params ?? {} };
  });
  const specs = parts.map((p) => specFor(p.method, p.url, p.body, p.params));
  const answers = blockingHttp(specs);
  return answers.map((a, i) => toResponse(specs[i]!, a, parts[i]!.params));
}

export default { request, get, head, post, put, patch, del, options, batch, expectedStatuses, setResponseCallback, cookieJar, CookieJar };
