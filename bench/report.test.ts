/** The report's reading of the chat rows against issue 7's "highest rate" targets (pure: no stack). */
import { expect, test } from "bun:test";
import type { ChatRow } from "./chat/run.ts";
import { TARGETS } from "./lib/targets.ts";
import { compareHighest, highestRate } from "./report.ts";

function row(system: string, rate: number, p99: number, lost = 0): ChatRow {
  return {
    system: system as ChatRow["system"], rate, reps: 3, deliveredPerSec: rate, p50: 1, p99, max: p99, lost, late: 0, duplicated: 0,
    unacked: 0, seqGaps: 0, cpuPer10k: 1, cpuPer10kAll: 1, generatorCpuPer10k: 1, redisCmdsPerMsg: 1, machineBusy: 0.5, saturated: p99 > 200,
  };
}

test("the highest rate counts only steps within the line and with nothing lost", () => {
  const rows = [row("xplicit", 2000, 40), row("xplicit", 4000, 90), row("xplicit", 6000, 60, 1), row("xplicit", 8000, 130), row("floor", 8000, 10)];
  expect(highestRate(rows, "xplicit", TARGETS.ratioLineP99Ms)).toBe(4000);
  expect(highestRate(rows, "floor", TARGETS.ratioLineP99Ms)).toBe(8000);
  expect(highestRate(rows, "socketio", TARGETS.ratioLineP99Ms)).toBeNaN();
});

test("a system that passed the top rate tried makes the ratio a bound, not a figure", () => {
  expect(compareHighest(4000, 8000, 24000)).toEqual({ text: "0.50×", kind: "exact" });
  expect(compareHighest(4000, 24000, 24000).kind).toBe("upper");
  expect(compareHighest(24000, 8000, 24000).kind).toBe("lower");
  expect(compareHighest(24000, 24000, 24000).kind).toBe("unknown");
  expect(compareHighest(NaN, 8000, 24000).kind).toBe("unmeasured");
});
