/** The chat harness' step rules (pure: no stack). */
import { expect, test } from "bun:test";
import { TARGETS } from "../lib/targets.ts";
import { SATURATED_P99_MS, isSaturated, runsStep } from "./steps.ts";

test("a system is saturated when the median p99 of its repetitions is over twice the ratio line", () => {
  expect(SATURATED_P99_MS).toBe(2 * TARGETS.ratioLineP99Ms);
  expect(isSaturated([150, SATURATED_P99_MS + 1, 900])).toBe(true);
  // one bad repetition is noise, not a knee
  expect(isSaturated([40, 60, 900])).toBe(false);
  expect(isSaturated([SATURATED_P99_MS])).toBe(false);
  expect(isSaturated([])).toBe(false);
});

test("a saturated system skips the higher rates, except Xplicit at the target rate", () => {
  const saturated = new Set(["xplicit", "socketio"] as const);
  expect(runsStep("floor", 24_000, saturated)).toBe(true);
  expect(runsStep("socketio", TARGETS.chatRate, saturated)).toBe(false);
  expect(runsStep("xplicit", TARGETS.chatRate, saturated)).toBe(true);
  expect(runsStep("xplicit", TARGETS.chatRate + 2000, saturated)).toBe(false);
  expect(runsStep("xplicit", TARGETS.chatRate + 2000, new Set())).toBe(true);
});
