import { afterEach, expect, mock, setSystemTime, test } from "bun:test";

// k6/timers only exists inside k6: a recorder stands in for its scheduler, so a test can run a timer
// early the way k6 before 2.3 did (grafana/k6#6351) and see what the wait does then.
interface Armed {
  id: number;
  delay: number;
  fn: () => void;
}
const armed: Armed[] = [];
let nextId = 1;
mock.module("k6/timers", () => ({
  setTimeout: (fn: () => void, delay: number) => {
    const id = nextId++;
    armed.push({ id, delay, fn });
    return id;
  },
  clearTimeout: (id: number) => {
    const i = armed.findIndex((t) => t.id === id);
    if (i >= 0) armed.splice(i, 1);
  },
}));
const { afterAtLeast } = await import("./timers.ts");

const START = Date.parse("2026-12-02T12:00:00Z");

function fireNext(atMs: number): number {
  const next = armed.shift();
  if (!next) throw new Error("no timer is armed");
  setSystemTime(new Date(START + atMs));
  next.fn();
  return next.delay;
}

afterEach(() => {
  armed.length = 0;
  setSystemTime();
});

test("a wait whose timer runs early re-arms for what is left and runs its callback once, on time", () => {
  setSystemTime(new Date(START));
  let ran = 0;
  afterAtLeast(1000, () => ran++);
  expect(fireNext(300)).toBe(1000); // the k6 bug: due at 1,000 ms, run at 300
  expect(ran).toBe(0);
  expect(armed.map((t) => t.delay)).toEqual([700]);
  fireNext(650); // early again
  expect(ran).toBe(0);
  expect(armed.map((t) => t.delay)).toEqual([350]);
  fireNext(1000);
  expect(ran).toBe(1);
  expect(armed).toHaveLength(0);
});

test("a timer that runs on time (or late) runs the callback without arming another", () => {
  setSystemTime(new Date(START));
  let ran = 0;
  afterAtLeast(500, () => ran++);
  fireNext(520);
  expect(ran).toBe(1);
  expect(armed).toHaveLength(0);
});

test("a negative wait is no wait", () => {
  setSystemTime(new Date(START));
  let ran = 0;
  afterAtLeast(-50, () => ran++);
  expect(fireNext(0)).toBe(0);
  expect(ran).toBe(1);
});

test("a cancelled wait never runs, also when cancelled after an early run re-armed it", () => {
  setSystemTime(new Date(START));
  let ran = 0;
  const cancel = afterAtLeast(1000, () => ran++);
  fireNext(300); // early: re-armed for 700
  expect(armed).toHaveLength(1);
  cancel();
  expect(armed).toHaveLength(0);
  const cancelFirst = afterAtLeast(200, () => ran++);
  cancelFirst();
  expect(armed).toHaveLength(0);
  expect(ran).toBe(0);
});
