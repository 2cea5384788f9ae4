/**
 * Which chat steps run. Past its knee a system only queues, and on a fast day measuring every rate
 * kept `npm run bench` past 10 minutes, so a system whose median p99 at a rate is above twice the
 * ratio targets' line skips the higher rates — except Xplicit at the target rate, so that target
 * always has a figure.
 */
import { median } from "../lib/stats.ts";
import { TARGETS } from "../lib/targets.ts";
import type { System } from "./loadgen.ts";

export const SATURATED_P99_MS = 2 * TARGETS.ratioLineP99Ms;

/** Past the knee: the median p99 of a (system, rate)'s repetitions is over the saturation line. */
export function isSaturated(p99s: readonly number[]): boolean {
  return p99s.length > 0 && median([...p99s]) > SATURATED_P99_MS;
}

export function runsStep(system: System, rate: number, saturated: ReadonlySet<System>): boolean {
  return !saturated.has(system) || (system === "xplicit" && rate === TARGETS.chatRate);
}
