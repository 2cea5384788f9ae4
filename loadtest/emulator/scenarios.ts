/**
 * A script's `options` as the scenarios k6 would run: its `scenarios`, or the shortcut options
 * (`vus` + `iterations` → shared-iterations, `vus` + `duration` → constant-vus, neither → one
 * iteration of one VU), with k6's defaults filled in. Executors the emulator does not implement are
 * refused by name rather than run differently.
 */
export type Scenario =
  | (Common & { executor: "per-vu-iterations"; vus: number; iterations: number; maxDurationMs: number })
  | (Common & { executor: "shared-iterations"; vus: number; iterations: number; maxDurationMs: number })
  | (Common & { executor: "constant-vus"; vus: number; durationMs: number })
  | (Common & { executor: "constant-arrival-rate"; rate: number; timeUnitMs: number; durationMs: number; preAllocatedVUs: number; maxVUs: number });

interface Common {
  name: string;
  exec: string;
  startTimeMs: number;
  gracefulStopMs: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** k6 durations: "30s", "1m30s", "500ms", "2h", or a number of milliseconds. */
export function parseDuration(v: unknown, what: string): number {
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v;
  if (typeof v !== "string") throw new Error(`${what}: "${String(v)}" is not a duration`);
  const s = v.trim();
  let total = 0;
  let consumed = "";
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    consumed += m[0];
  }
  if (consumed !== s || s === "") throw new Error(`${what}: "${v}" is not a duration like 30s, 1m30s or 500ms`);
  return total;
}

function whole(v: unknown, what: string, fallback: number, min = 0): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) throw new Error(`${what} must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

type Raw = Record<string, unknown>;

function oneScenario(name: string, raw: Raw): Scenario {
  const common: Common = {
    name,
    exec: typeof raw.exec === "string" ? raw.exec : "default",
    startTimeMs: raw.startTime === undefined ? 0 : parseDuration(raw.startTime, `${name}.startTime`),
    gracefulStopMs: raw.gracefulStop === undefined ? 30_000 : parseDuration(raw.gracefulStop, `${name}.gracefulStop`),
  };
  const maxDurationMs = raw.maxDuration === undefined ? 600_000 : parseDuration(raw.maxDuration, `${name}.maxDuration`);
  switch (raw.executor) {
    case "per-vu-iterations":
      return { ...common, executor: "per-vu-iterations", vus: whole(raw.vus, `${name}.vus`, 1, 1), iterations: whole(raw.iterations, `${name}.iterations`, 1, 1), maxDurationMs };
    case "shared-iterations":
      return { ...common, executor: "shared-iterations", vus: whole(raw.vus, `${name}.vus`, 1, 1), iterations: whole(raw.iterations, `${name}.iterations`, 1, 1), maxDurationMs };
    case "constant-vus":
      return { ...common, executor: "constant-vus", vus: whole(raw.vus, `${name}.vus`, 1, 1), durationMs: parseDuration(raw.duration, `${name}.duration`) };
    case "constant-arrival-rate": {
      const preAllocatedVUs = whole(raw.preAllocatedVUs, `${name}.preAllocatedVUs`, 1, 1);
      return {
        ...common,
        executor: "constant-arrival-rate",
        rate: whole(raw.rate, `${name}.rate`, 1, 1),
        timeUnitMs: raw.timeUnit === undefined ? 1000 : parseDuration(raw.timeUnit, `${name}.timeUnit`),
        durationMs: parseDuration(raw.duration, `${name}.duration`),
        preAllocatedVUs,
        maxVUs: Math.max(preAllocatedVUs, whole(raw.maxVUs, `${name}.maxVUs`, preAllocatedVUs, 1)),
      };
    }
    default:
      throw new Error(`scenario ${name}: executor "${String(raw.executor)}" is not implemented by the emulator (run it with k6)`);
  }
}

export function scenariosOf(options: Raw): Scenario[] {
  const scenarios = options.scenarios as Record<string, Raw> | undefined;
  if (scenarios && Object.keys(scenarios).length) return Object.entries(scenarios).map(([name, raw]) => oneScenario(name, raw));
  const vus = whole(options.vus, "vus", 1, 1);
  if (options.duration !== undefined && options.iterations === undefined) {
    return [oneScenario("default", { executor: "constant-vus", vus, duration: options.duration })];
  }
  return [oneScenario("default", { executor: "shared-iterations", vus, iterations: whole(options.iterations, "iterations", 1, 1), maxDuration: options.duration })];
}
