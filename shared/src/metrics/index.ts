/**
 * One prom-client registry per process, with default process metrics and the HTTP request
 * duration histogram every service exposes.
 */
import client from "prom-client";

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const httpDuration = new client.Histogram({
  name: "http_request_duration_seconds",
  help: "HTTP request duration by route template and status",
  labelNames: ["method", "route", "status"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return new client.Counter<L>({ name, help, labelNames, registers: [registry] });
}

/**
 * A labelled counter for paths that run per frame: an increment is one addition in a Map, and
 * prom-client sees the totals only when it is scraped (its own `inc` hashes the label object on
 * every call, which showed as a few percent of a busy chat replica).
 */
export function hotCounter<V extends string = string>(name: string, help: string, labelName: string) {
  const totals = new Map<V, number>();
  new client.Counter({
    name,
    help,
    labelNames: [labelName],
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, n] of totals) this.inc({ [labelName]: value }, n);
    },
  });
  return {
    inc(value: V): void {
      totals.set(value, (totals.get(value) ?? 0) + 1);
    },
  };
}

export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return new client.Gauge<L>({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) {
  return new client.Histogram<L>({ name, help, buckets, labelNames, registers: [registry] });
}

export function setDefaultLabels(labels: Record<string, string>): void {
  registry.setDefaultLabels(labels);
}
