/**
 * One VU's state, shared by the k6 modules it imports: who it is, the iteration it runs, the
 * metrics it has sampled, and its event loop's pending work (k6 ends an iteration only when the
 * default function has returned and no timer or WebSocket is left: the chat sessions run after
 * the function returns).
 */
import type { MetricType, Sample, Tags } from "../metrics.ts";
import type { FromVu, HttpRequestSpec, HttpResponseData, IterationOrder, TlsSettings } from "../protocol.ts";

declare const self: Worker;

export interface VuState {
  vuId: number;
  scriptDir: string;
  tls: TlsSettings | null;
  iteration: IterationOrder | null;
  /** iterations this VU has started, all scenarios */
  iterationsInInstance: number;
  /** `::group::sub` of the group() calls around the current code */
  groupPath: string;
  /** true while the script's top level runs: open() is allowed only then, as in k6 */
  initContext: boolean;
}

export const vu: VuState = {
  vuId: 0,
  scriptDir: ".",
  tls: null,
  iteration: null,
  iterationsInInstance: 0,
  groupPath: "",
  initContext: true,
};

let signal: Int32Array | null = null;
let data: Uint8Array | null = null;

export function attachBridge(sig: SharedArrayBuffer, buf: SharedArrayBuffer): void {
  signal = new Int32Array(sig);
  data = new Uint8Array(buf);
}

export function post(msg: FromVu): void {
  self.postMessage(msg);
}

/** Blocks this VU until the runner has made the requests, as k6's http calls block. */
export function blockingHttp(requests: HttpRequestSpec[]): HttpResponseData[] {
  if (!signal || !data) throw new Error("the VU's bridge is not attached");
  flushSamples();
  Atomics.store(signal, 0, 0);
  post({ kind: "http", requests });
  Atomics.wait(signal, 0, 0);
  const length = Atomics.load(signal, 1);
  return JSON.parse(new TextDecoder().decode(data.slice(0, length))) as HttpResponseData[];
}

/** k6's sleep: the VU does nothing else meanwhile (timers and socket events wait). */
export function blockFor(ms: number): void {
  if (ms <= 0) return;
  flushSamples();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ── metrics ──────────────────────────────────────────────────────────────────────────────────

const declared = new Set<string>();
let buffered: Sample[] = [];
// Samples also leave on a clock, so a VU ended at its scenario's graceful stop loses at most this much.
const FLUSH_EVERY_MS = 250;
globalThis.setInterval(() => flushSamples(), FLUSH_EVERY_MS);

export function declareMetric(name: string, type: MetricType, isTime: boolean): void {
  if (declared.has(name)) return;
  declared.add(name);
  post({ kind: "metric", name, type, isTime });
}

/** The tags every sample of the current code carries: scenario and group, as k6 adds them. */
export function systemTags(): Tags {
  const t: Tags = {};
  if (vu.iteration) t.scenario = vu.iteration.scenario;
  t.group = vu.groupPath;
  return t;
}

export function addSample(metric: string, type: MetricType, isTime: boolean, value: number, tags: Tags = {}): void {
  declareMetric(metric, type, isTime);
  buffered.push({ metric, type, isTime, value, tags: { ...systemTags(), ...tags } });
  if (buffered.length >= 500) flushSamples();
}

export function flushSamples(): void {
  if (buffered.length === 0) return;
  post({ kind: "samples", samples: buffered });
  buffered = [];
}

// ── errors in callbacks ──────────────────────────────────────────────────────────────────────

/** Errors thrown by timer and socket callbacks during the current iteration. */
export const callbackErrors: string[] = [];

/** What ends the event loop's pending work (the VU's sockets, its timers). */
const stoppers: Array<() => void> = [];

export function onIterationStop(stop: () => void): void {
  stoppers.push(stop);
}

/**
 * Runs a callback of the script's. A throw ends the iteration as in k6: the error goes back to the
 * event loop, which closes the VU's sockets and drops its timers, and the iteration fails.
 */
export function runCallback(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    callbackErrors.push(text);
    console.error(`VU ${vu.vuId}: uncaught error in a callback: ${text}`);
    for (const stop of stoppers) stop();
  }
}

// ── the event loop's pending work ────────────────────────────────────────────────────────────

let pending = 0;
let onIdle: (() => void) | null = null;

export function holdLoop(): void {
  pending++;
}

export function releaseLoop(): void {
  pending = Math.max(0, pending - 1);
  if (pending === 0 && onIdle) {
    const f = onIdle;
    onIdle = null;
    f();
  }
}

/** Resolves once no timer and no WebSocket of this VU is pending. */
export function loopIdle(): Promise<void> {
  if (pending === 0) return Promise.resolve();
  return new Promise((resolve) => (onIdle = resolve));
}
