/** `k6/metrics`: custom metrics whose samples go to the runner's store. */
import type { MetricType } from "../metrics.ts";
import { addSample, declareMetric } from "./runtime.ts";

class Metric {
  constructor(
    readonly name: string,
    readonly isTime: boolean,
    readonly type: MetricType,
  ) {
    if (!/^[A-Za-z0-9_]{1,128}$/.test(name)) throw new Error(`invalid metric name "${name}" (k6 allows 1-128 of A-Z a-z 0-9 _)`);
    // k6 registers a metric when it is created (in the init context): a threshold may name it before any sample
    declareMetric(name, type, isTime);
  }

  add(value: number | boolean, tags: Record<string, string> = {}): void {
    addSample(this.name, this.type, this.isTime, typeof value === "boolean" ? (value ? 1 : 0) : Number(value), tags);
  }
}

/** k6's metric classes differ only in their type: `new Trend(name, isTime)`. */
function metricOfType(type: MetricType) {
  return class extends Metric {
    constructor(name: string, isTime = false) {
      super(name, isTime, type);
    }
  };
}

export const Counter = metricOfType("counter");
export const Gauge = metricOfType("gauge");
export const Rate = metricOfType("rate");
export const Trend = metricOfType("trend");

export default { Counter, Gauge, Rate, Trend };
