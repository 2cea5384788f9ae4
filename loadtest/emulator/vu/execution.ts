/** `k6/execution`: what this VU and its current iteration are, and test.abort(). */
import { post, vu } from "./runtime.ts";

function current() {
  if (!vu.iteration) throw new Error("k6/execution: scenario information is only available in an iteration");
  return vu.iteration;
}

const execution = {
  vu: {
    get idInTest(): number {
      return vu.vuId;
    },
    get idInInstance(): number {
      return vu.vuId;
    },
    get iterationInInstance(): number {
      return Math.max(0, vu.iterationsInInstance - 1);
    },
    get iterationInScenario(): number {
      return current().iterationInScenarioForVu;
    },
  },
  scenario: {
    get name(): string {
      return current().scenario;
    },
    get executor(): string {
      return current().executor;
    },
    get startTime(): number {
      return current().scenarioStartTime;
    },
    get iterationInTest(): number {
      return current().iterationInTest;
    },
    get iterationInInstance(): number {
      return current().iterationInTest;
    },
  },
  test: {
    abort(reason = "test aborted"): never {
      post({ kind: "abort", reason });
      throw new Error(`test aborted: ${reason}`);
    },
  },
};

export default execution;
