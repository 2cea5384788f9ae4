/**
 * k6's executors, as far as the scripts use them: who runs which iteration when. Each scenario
 * has VUs of its own; iteration numbers (exec.scenario.iterationInTest) are handed out in the
 * order iterations start. An iteration still running at the scenario's end plus its graceful stop
 * is interrupted (its VU is ended), as k6 does.
 */
import type { Scenario } from "./scenarios.ts";
import type { Done, VuHandle } from "./vu-handle.ts";

export interface ScenarioRun {
  scenario: Scenario;
  /** makes (and starts) the scenario's n-th VU */
  newVu(): Promise<VuHandle>;
  data: unknown;
  onIterationDone(d: Done): void;
  /** iterations that never started: no VU was free (arrival rate), or maxDuration came first */
  onDropped(n: number): void;
  aborted(): boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

class Iterations {
  private next = 0;
  private readonly perVu = new Map<VuHandle, number>();
  constructor(private readonly run: ScenarioRun, private readonly startTime: number) {}

  async runOn(vu: VuHandle): Promise<void> {
    const s = this.run.scenario;
    const forVu = this.perVu.get(vu) ?? 0;
    this.perVu.set(vu, forVu + 1);
    const done = await vu.iterate({
      kind: "iterate",
      scenario: s.name,
      executor: s.executor,
      exec: s.exec,
      scenarioStartTime: this.startTime,
      iterationInTest: this.next++,
      iterationInScenarioForVu: forVu,
      data: this.run.data,
    });
    this.run.onIterationDone(done);
  }
}

/** Ends whatever still runs `stopAt` ms from now; returns a canceller. */
function hardStop(vus: VuHandle[], stopAt: number): () => void {
  const t = setTimeout(() => vus.forEach((v) => v.busy && v.terminate()), Math.max(0, stopAt - Date.now()));
  return () => clearTimeout(t);
}

async function iterationsExecutor(run: ScenarioRun, vus: VuHandle[], shared: boolean, perVu: number, total: number, maxDurationMs: number): Promise<void> {
  const started = Date.now();
  const its = new Iterations(run, started);
  const deadline = started + maxDurationMs;
  const cancel = hardStop(vus, deadline + run.scenario.gracefulStopMs);
  let left = total;
  let begun = 0;
  await Promise.all(
    vus.map(async (vu) => {
      for (let k = 0; shared ? left > 0 : k < perVu; k++) {
        if (Date.now() >= deadline || vu.terminated || run.aborted()) return;
        if (shared) left--;
        begun++;
        await its.runOn(vu);
      }
    }),
  );
  cancel();
  if (begun < total) run.onDropped(total - begun);
}

async function constantVus(run: ScenarioRun, vus: VuHandle[], durationMs: number): Promise<void> {
  const started = Date.now();
  const its = new Iterations(run, started);
  const end = started + durationMs;
  const cancel = hardStop(vus, end + run.scenario.gracefulStopMs);
  await Promise.all(
    vus.map(async (vu) => {
      while (Date.now() < end && !vu.terminated && !run.aborted()) await its.runOn(vu);
    }),
  );
  cancel();
}

async function constantArrivalRate(run: ScenarioRun, vus: VuHandle[], s: Extract<Scenario, { executor: "constant-arrival-rate" }>): Promise<void> {
  const started = Date.now();
  const its = new Iterations(run, started);
  const every = s.timeUnitMs / s.rate;
  const end = started + s.durationMs;
  const running: Promise<void>[] = [];
  let growing = 0;
  for (let n = 0; ; n++) {
    const at = started + n * every;
    if (at >= end || run.aborted()) break;
    await sleep(at - Date.now());
    const idle = vus.find((v) => !v.busy && !v.terminated);
    if (idle) {
      idle.busy = true;
      running.push(its.runOn(idle));
    } else {
      // k6 starts more VUs (up to maxVUs) in the background; this iteration is dropped meanwhile
      run.onDropped(1);
      if (vus.length + growing < s.maxVUs) {
        growing++;
        void run.newVu().then((v) => {
          growing--;
          vus.push(v);
        });
      }
    }
  }
  const cancel = hardStop(vus, end + s.gracefulStopMs);
  await Promise.all(running);
  cancel();
}

export async function runScenario(run: ScenarioRun, vus: VuHandle[]): Promise<void> {
  const s = run.scenario;
  switch (s.executor) {
    case "per-vu-iterations":
      return iterationsExecutor(run, vus, false, s.iterations, s.vus * s.iterations, s.maxDurationMs);
    case "shared-iterations":
      return iterationsExecutor(run, vus, true, 0, s.iterations, s.maxDurationMs);
    case "constant-vus":
      return constantVus(run, vus, s.durationMs);
    case "constant-arrival-rate":
      return constantArrivalRate(run, vus, s);
  }
}

/** How many VUs a scenario starts with. */
export function initialVus(s: Scenario): number {
  return s.executor === "constant-arrival-rate" ? s.preAllocatedVUs : s.vus;
}
