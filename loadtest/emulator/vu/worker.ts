/**
 * A VU: a Worker that imports the script with `k6/*` resolved to this emulator's modules, then
 * runs the iterations, setup() or teardown() the runner orders, one at a time.
 */
import { plugin } from "bun";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { CallOrder, IterationOrder, ToVu, VuInit } from "../protocol.ts";
import * as crypto from "./crypto.ts";
import execution from "./execution.ts";
import * as http from "./http.ts";
import * as k6 from "./k6.ts";
import * as metrics from "./metrics.ts";
import { addSample, attachBridge, callbackErrors, flushSamples, loopIdle, post, vu } from "./runtime.ts";
import * as timers from "./timers.ts";
import * as websockets from "./websockets.ts";

declare const self: Worker;

const modules: Record<string, Record<string, unknown>> = {
  k6: { ...k6 },
  "k6/http": { ...http },
  "k6/metrics": { ...metrics },
  "k6/timers": { ...timers, default: { ...timers } },
  "k6/websockets": { ...websockets },
  "k6/execution": { default: execution },
  "k6/crypto": { ...crypto },
};

plugin({
  name: "k6-emulator",
  setup(build) {
    for (const [name, exports] of Object.entries(modules)) build.module(name, () => ({ exports, loader: "object" }));
  },
});

type ScriptModule = Record<string, unknown>;
let script: ScriptModule | null = null;

function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** k6's open(): init context only; a relative path is the script's directory's. */
function open(path: string, mode?: string): string | ArrayBuffer {
  if (!vu.initContext) throw new Error("open() can only be called in the init context");
  const full = path.startsWith("file://") ? new URL(path).pathname : resolve(vu.scriptDir, path);
  const bytes = readFileSync(full);
  return mode === "b" ? (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer) : bytes.toString("utf8");
}

async function init(msg: VuInit): Promise<void> {
  attachBridge(msg.signal, msg.data);
  vu.vuId = msg.vuId;
  vu.tls = msg.tls;
  vu.scriptDir = dirname(msg.script);
  const { setTimeout, clearTimeout, setInterval, clearInterval } = timers;
  Object.assign(globalThis, { __ENV: msg.env, __VU: msg.vuId, __ITER: 0, open, setTimeout, clearTimeout, setInterval, clearInterval });
  try {
    script = (await import(msg.script)) as ScriptModule;
  } catch (err) {
    post({ kind: "init-failed", error: errorText(err) });
    return;
  }
  vu.initContext = false;
  flushSamples();
  post({ kind: "ready", options: JSON.parse(JSON.stringify(script.options ?? {})), exports: Object.keys(script).filter((k) => typeof script![k] === "function") });
}

/** Runs fn, then waits for the event loop to empty (timers, sockets), as a k6 iteration ends. */
async function runToIdle(fn: () => unknown): Promise<{ ok: boolean; error?: string; result?: unknown }> {
  callbackErrors.length = 0;
  let result: unknown;
  try {
    result = fn();
    if (result instanceof Promise) result = await result;
  } catch (err) {
    await loopIdle();
    return { ok: false, error: errorText(err) };
  }
  await loopIdle();
  if (callbackErrors.length) return { ok: false, error: callbackErrors.join("\n") };
  return { ok: true, result };
}

async function iterate(order: IterationOrder): Promise<void> {
  const fn = script?.[order.exec];
  if (typeof fn !== "function") {
    post({ kind: "done", ok: false, error: `the script exports no function "${order.exec}"` });
    return;
  }
  vu.iteration = order;
  vu.groupPath = "";
  vu.iterationsInInstance++;
  http.cookieJar().reset();
  (globalThis as Record<string, unknown>).__ITER = order.iterationInScenarioForVu;
  const started = Date.now();
  const outcome = await runToIdle(() => (fn as (d: unknown) => unknown)(order.data));
  k6Iteration(Date.now() - started);
  flushSamples();
  post({ kind: "done", ok: outcome.ok, ...(outcome.error ? { error: outcome.error } : {}) });
}

/** k6's built-in per-iteration metrics. */
function k6Iteration(ms: number): void {
  addSample("iterations", "counter", false, 1);
  addSample("iteration_duration", "trend", true, ms);
}

async function call(order: CallOrder): Promise<void> {
  const fn = script?.[order.fn];
  if (typeof fn !== "function") {
    post({ kind: "done", ok: true, result: undefined });
    return;
  }
  vu.iteration = null;
  // k6 tags what setup() and teardown() sample with their own group
  vu.groupPath = `::${order.fn}`;
  const outcome = await runToIdle(() => (fn as (d: unknown) => unknown)(order.data));
  flushSamples();
  post({ kind: "done", ok: outcome.ok, ...(outcome.error ? { error: outcome.error } : {}), result: outcome.result === undefined ? undefined : JSON.parse(JSON.stringify(outcome.result)) });
}

self.onmessage = (e: MessageEvent<ToVu>) => {
  const msg = e.data;
  if (msg.kind === "init") void init(msg);
  else if (msg.kind === "iterate") void iterate(msg);
  else void call(msg);
};
