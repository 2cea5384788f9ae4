import { expect, test } from "bun:test";
import { AppError } from "../../errors/index.ts";
import { createFanoutBudget } from "./fanout-budget.ts";

test("a member's messages are charged bytes × recipients; past the burst they are refused with when to resend, other members unaffected", () => {
  const budget = createFanoutBudget({ bytesPerSecond: 1_000, burstBytes: 10_000 });
  budget.charge("a", 100, 49); // 4,900
  budget.charge("a", 100, 49); // 9,800
  let refusal: unknown = null;
  try {
    budget.charge("a", 100, 49);
  } catch (err) {
    refusal = err;
  }
  expect(refusal).toBeInstanceOf(AppError);
  expect((refusal as AppError).status).toBe(429);
  expect((refusal as AppError).code).toBe("rate_limited");
  // 4,900 wanted, about 200 left: about 5 s at 1,000 bytes a second
  expect(Number((refusal as AppError).headers["Retry-After"])).toBeGreaterThanOrEqual(4);
  budget.charge("b", 100, 49);
  // a message to oneself costs the others nothing
  budget.charge("a", 4_000, 0);
});

test("a message larger than the whole burst still goes once the bucket is full, alone", () => {
  const budget = createFanoutBudget({ bytesPerSecond: 1_000, burstBytes: 10_000 });
  budget.charge("a", 12_000, 49);
  expect(() => budget.charge("a", 10, 1)).toThrow(AppError);
});
