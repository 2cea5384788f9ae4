/**
 * k6 thresholds: `"metric{tag:value,…}": ["p(99)<25", {threshold: "count==0", abortOnFail: true}]`.
 * Each expression is `aggregation operator number`; the run fails (exit code 99) when any is false.
 * A metric with no samples is judged as k6's final pass judges it since 0.38.2: a Counter counts 0
 * (so `count>0` fails), a Trend's aggregations are 0, a Gauge's value is 0, and a Rate has no value,
 * so its threshold is skipped and passes (the scripts demand `chat_deliveries: count>0` beside each
 * latency threshold). k6 0.38.0–0.38.1 judged that Rate NaN and failed it, and grafana/k6#4283 asks
 * for a failure again: the scripts give every Rate they put a threshold on a sample in every run,
 * and tests/loadtest checks that no verdict rests on a Rate without samples.
 */
import { aggregate, type MetricStore, type MetricType, type Tags } from "./metrics.ts";

export interface ThresholdResult {
  key: string;
  expression: string;
  /** the aggregation's value, null when the metric had no samples */
  actual: number | null;
  ok: boolean;
}

const OPS: Record<string, (a: number, b: number) => boolean> = {
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
  "==": (a, b) => a === b,
  "===": (a, b) => a === b,
  "!=": (a, b) => a !== b,
};

export function parseThresholdKey(key: string): { metric: string; filter: Tags } {
  const m = /^([^{]+)(?:\{(.*)\})?$/.exec(key.trim());
  if (!m) throw new Error(`threshold key "${key}" is not metric or metric{tag:value}`);
  const filter: Tags = {};
  for (const pair of (m[2] ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const colon = pair.indexOf(":");
    if (colon <= 0) throw new Error(`threshold key "${key}": "${pair}" is not tag:value`);
    filter[pair.slice(0, colon).trim()] = pair.slice(colon + 1).trim();
  }
  return { metric: m[1]!.trim(), filter };
}

export function parseExpression(expr: string): { agg: string; op: string; limit: number } {
  const m = /^\s*([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expr);
  if (!m) throw new Error(`threshold "${expr}" is not "aggregation operator number"`);
  return { agg: m[1]!, op: m[2]!, limit: Number(m[3]) };
}

type ThresholdSpec = string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string };

/** `types`: the type of every metric the script defined, sampled or not. */
export function evaluateThresholds(thresholds: Record<string, ThresholdSpec[]>, store: MetricStore, testSeconds: number, types: ReadonlyMap<string, MetricType>): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [key, specs] of Object.entries(thresholds)) {
    const { metric, filter } = parseThresholdKey(key);
    const series = store.select(metric, filter);
    const type = series?.type ?? types.get(metric);
    if (!type) throw new Error(`threshold on "${metric}": no such metric`);
    const values = series?.values ?? [];
    for (const spec of specs) {
      const expression = typeof spec === "string" ? spec : spec.threshold;
      const { agg, op, limit } = parseExpression(expression);
      if (values.length === 0 && type === "rate") {
        out.push({ key, expression, actual: null, ok: true });
        continue;
      }
      const actual = aggregate(type, values, agg, testSeconds);
      if (actual === null) throw new Error(`threshold ${key}: ${type} metrics have no "${agg}"`);
      out.push({ key, expression, actual, ok: OPS[op]!(actual, limit) });
    }
  }
  return out;
}
