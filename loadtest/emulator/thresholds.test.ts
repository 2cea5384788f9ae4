import { describe, expect, test } from "bun:test";
import { MetricStore, aggregate, percentile } from "./metrics.ts";
import { scenariosOf, parseDuration } from "./scenarios.ts";
import { evaluateThresholds, parseExpression, parseThresholdKey } from "./thresholds.ts";

function storeWith(metric: string, type: "counter" | "rate" | "trend", values: number[], tags: Record<string, string>[] = []): MetricStore {
  const s = new MetricStore();
  values.forEach((value, i) => s.add({ metric, type, isTime: type === "trend", value, tags: tags[i] ?? {} }));
  return s;
}

describe("aggregations as k6 computes them", () => {
  test("percentiles interpolate between neighbouring samples", () => {
    const sorted = [10, 20, 30, 40];
    expect(percentile(sorted, 50)).toBe(25);
    expect(percentile(sorted, 100)).toBe(40);
    expect(percentile(sorted, 0)).toBe(10);
    expect(percentile([7], 99)).toBe(7);
  });

  test("counter count and rate, rate share, trend med", () => {
    expect(aggregate("counter", [1, 2, 3], "count", 2)).toBe(6);
    expect(aggregate("counter", [1, 2, 3], "rate", 2)).toBe(3);
    expect(aggregate("rate", [1, 0, 1, 1], "rate", 1)).toBe(0.75);
    expect(aggregate("trend", [5, 1, 3], "med", 1)).toBe(3);
    expect(aggregate("rate", [1], "p(99)", 1)).toBeNull();
  });
});

describe("thresholds", () => {
  test("keys and expressions parse, sub-metric filters included", () => {
    expect(parseThresholdKey("http_req_duration{name:profile,scenario:api}")).toEqual({ metric: "http_req_duration", filter: { name: "profile", scenario: "api" } });
    expect(parseExpression("p(99.9)<=25")).toEqual({ agg: "p(99.9)", op: "<=", limit: 25 });
    expect(() => parseExpression("p99 < 25")).toThrow();
  });

  test("a crossed threshold fails, a met one passes", () => {
    const store = storeWith("chat_lost", "counter", [0, 0, 1]);
    const results = evaluateThresholds({ chat_lost: ["count==0", "count<5"] }, store, 1, new Map());
    expect(results.map((r) => r.ok)).toEqual([false, true]);
  });

  test("a metric without samples is judged as k6 does: a Counter counts 0, a Trend is 0, a Rate passes", () => {
    const types = new Map([
      ["chat_deliveries", "counter"],
      ["chat_delivery_latency", "trend"],
      ["chat_connect_ok", "rate"],
    ] as const);
    const results = evaluateThresholds(
      { chat_deliveries: ["count>0"], chat_delivery_latency: ["p(99)<25"], chat_connect_ok: ["rate>0.99"] },
      new MetricStore(),
      1,
      types,
    );
    expect(results.map((r) => [r.ok, r.actual])).toEqual([
      [false, 0],
      [true, 0],
      [true, null],
    ]);
  });

  test("a sub-metric threshold sees only its own samples", () => {
    const store = storeWith("http_req_duration", "trend", [5, 500], [{ name: "profile" }, { name: "login" }]);
    const [profile, all] = evaluateThresholds({ "http_req_duration{name:profile}": ["p(99)<20"], http_req_duration: ["p(99)<20"] }, store, 1, new Map());
    expect(profile!.ok).toBe(true);
    expect(all!.ok).toBe(false);
  });
});

describe("scenarios from options", () => {
  test("k6 durations", () => {
    expect(parseDuration("1m30s", "d")).toBe(90_000);
    expect(parseDuration("500ms", "d")).toBe(500);
    expect(parseDuration("0s", "d")).toBe(0);
    expect(() => parseDuration("90 seconds", "d")).toThrow();
  });

  test("the shortcut options and the defaults", () => {
    expect(scenariosOf({ vus: 1, iterations: 1 })[0]).toMatchObject({ executor: "shared-iterations", vus: 1, iterations: 1, gracefulStopMs: 30_000 });
    expect(scenariosOf({ vus: 3, duration: "10s" })[0]).toMatchObject({ executor: "constant-vus", vus: 3, durationMs: 10_000 });
    const [s] = scenariosOf({ scenarios: { api: { executor: "constant-arrival-rate", rate: 5, timeUnit: "1s", duration: "2s", preAllocatedVUs: 2, maxVUs: 4 } } });
    expect(s).toMatchObject({ name: "api", exec: "default", rate: 5, timeUnitMs: 1000, preAllocatedVUs: 2, maxVUs: 4 });
  });

  test("an executor the emulator does not implement is refused by name", () => {
    expect(() => scenariosOf({ scenarios: { r: { executor: "ramping-vus", stages: [] } } })).toThrow(/ramping-vus/);
  });
});
