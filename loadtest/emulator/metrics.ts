/**
 * The end-of-test view of k6's four metric types, as k6 computes it: a Counter's count and rate,
 * a Rate's share of non-zero samples, a Trend's avg/min/med/max/p(N) (percentiles interpolated
 * between neighbouring samples, as k6 does), a Gauge's last value. Samples keep their tags so a
 * threshold on a sub-metric (`http_req_duration{name:profile}`) sees only its own.
 */
export type MetricType = "counter" | "gauge" | "rate" | "trend";

export type Tags = Record<string, string>;

export interface Sample {
  metric: string;
  type: MetricType;
  /** values in milliseconds (a Trend created with isTime, or k6's own timings) */
  isTime: boolean;
  value: number;
  tags: Tags;
}

export interface MetricSeries {
  type: MetricType;
  isTime: boolean;
  values: number[];
  tags: Tags[];
}

export class MetricStore {
  readonly series = new Map<string, MetricSeries>();

  add(s: Sample): void {
    let m = this.series.get(s.metric);
    if (!m) this.series.set(s.metric, (m = { type: s.type, isTime: s.isTime, values: [], tags: [] }));
    m.values.push(s.value);
    m.tags.push(s.tags);
  }

  /** The values of `metric` whose tags include every pair of `filter`. */
  select(metric: string, filter: Tags = {}): { type: MetricType; isTime: boolean; values: number[] } | null {
    const m = this.series.get(metric);
    if (!m) return null;
    const keys = Object.keys(filter);
    if (keys.length === 0) return { type: m.type, isTime: m.isTime, values: m.values };
    const values = m.values.filter((_, i) => keys.every((k) => m.tags[i]![k] === filter[k]));
    return { type: m.type, isTime: m.isTime, values };
  }
}

/** k6's percentile: linear interpolation between the two samples around rank p/100 × (n − 1). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/**
 * The value of one aggregation (`count`, `rate`, `avg`, `min`, `max`, `med`, `p(99.9)`, `value`)
 * over a metric's samples, or null when that type has no such aggregation. A Counter's rate is per
 * second of the test's duration.
 */
export function aggregate(type: MetricType, values: readonly number[], agg: string, testSeconds: number): number | null {
  switch (type) {
    case "counter": {
      const count = values.reduce((a, b) => a + b, 0);
      if (agg === "count") return count;
      if (agg === "rate") return testSeconds > 0 ? count / testSeconds : 0;
      return null;
    }
    case "rate":
      if (agg !== "rate") return null;
      return values.length === 0 ? 0 : values.filter((v) => v !== 0).length / values.length;
    case "gauge":
      if (agg === "value") return values.length ? values[values.length - 1]! : 0;
      if (agg === "min") return values.length ? Math.min(...values) : 0;
      if (agg === "max") return values.length ? Math.max(...values) : 0;
      return null;
    case "trend": {
      const sorted = [...values].sort((a, b) => a - b);
      if (agg === "count") return sorted.length;
      if (agg === "avg") return sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
      if (agg === "min") return sorted[0] ?? 0;
      if (agg === "max") return sorted[sorted.length - 1] ?? 0;
      if (agg === "med") return percentile(sorted, 50);
      const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(agg);
      return p ? percentile(sorted, Number(p[1])) : null;
    }
  }
}
