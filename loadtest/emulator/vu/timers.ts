/**
 * `k6/timers` (also installed as the VU's globals): Bun's timers, counted as the event loop's
 * pending work so an iteration lasts until its timers are done or cleared.
 */
import { holdLoop, onIterationStop, releaseLoop, runCallback } from "./runtime.ts";

const native = {
  setTimeout: globalThis.setTimeout.bind(globalThis),
  clearTimeout: globalThis.clearTimeout.bind(globalThis),
  setInterval: globalThis.setInterval.bind(globalThis),
  clearInterval: globalThis.clearInterval.bind(globalThis),
};

let nextId = 1;
const live = new Map<number, { handle: ReturnType<typeof native.setTimeout>; repeat: boolean }>();

function release(id: number): void {
  const t = live.get(id);
  if (!t) return;
  live.delete(id);
  (t.repeat ? native.clearInterval : native.clearTimeout)(t.handle);
  releaseLoop();
}

export function setTimeout(fn: (...args: unknown[]) => void, ms = 0, ...args: unknown[]): number {
  const id = nextId++;
  holdLoop();
  const handle = native.setTimeout(() => {
    live.delete(id);
    runCallback(() => fn(...args));
    releaseLoop();
  }, ms);
  live.set(id, { handle, repeat: false });
  return id;
}

export function setInterval(fn: (...args: unknown[]) => void, ms = 0, ...args: unknown[]): number {
  const id = nextId++;
  holdLoop();
  const handle = native.setInterval(() => runCallback(() => fn(...args)), Math.max(1, ms));
  live.set(id, { handle, repeat: true });
  return id;
}

export function clearTimeout(id: number | undefined): void {
  if (id !== undefined) release(id);
}

export const clearInterval = clearTimeout;

onIterationStop(() => {
  for (const id of [...live.keys()]) release(id);
});
