/** The `k6` module: check, group, sleep, fail. */
import { addSample, blockFor, vu } from "./runtime.ts";

type Checkers<T> = Record<string, (v: T) => unknown>;

/** Every predicate adds a `checks` sample tagged with its name; true when all held. */
export function check<T>(value: T, sets: Checkers<T>, tags: Record<string, string> = {}): boolean {
  let all = true;
  for (const [name, predicate] of Object.entries(sets)) {
    const ok = Boolean(predicate(value));
    addSample("checks", "rate", false, ok ? 1 : 0, { ...tags, check: name });
    if (!ok) all = false;
  }
  return all;
}

export function group<T>(name: string, fn: () => T): T {
  const outer = vu.groupPath;
  vu.groupPath = `${outer}::${name}`;
  const started = Date.now();
  try {
    return fn();
  } finally {
    addSample("group_duration", "trend", true, Date.now() - started);
    vu.groupPath = outer;
  }
}

export function sleep(seconds: number): void {
  blockFor(seconds * 1000);
}

export function fail(message = ""): never {
  throw new Error(message);
}

export function randomSeed(_seed: number): void {
  // Math.random cannot be seeded here; scripts that need repeatable randomness do not run on the emulator.
}

export default { check, group, sleep, fail, randomSeed };
