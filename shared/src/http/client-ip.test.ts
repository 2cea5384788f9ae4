import { expect, test } from "bun:test";
import { addressBudgetKey } from "./client-ip.ts";

test("per-address budgets count an IPv6 /64 as one address, IPv4 as it is", () => {
  expect(addressBudgetKey("203.0.113.7")).toBe("203.0.113.7");
  expect(addressBudgetKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
  const a = addressBudgetKey("2001:db8:1:2:aaaa::1");
  expect(a).toBe("2001:db8:1:2::/64");
  expect(addressBudgetKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe(a);
  expect(addressBudgetKey("2001:db8:1:3::1")).not.toBe(a);
  expect(addressBudgetKey("::1")).toBe("0:0:0:0::/64");
  expect(addressBudgetKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  expect(addressBudgetKey("not:an:address")).toBe("not:an:address");
});
