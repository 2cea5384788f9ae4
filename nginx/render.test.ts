import { expect, test } from "bun:test";
import { hardDescriptorLimit, IPV6_PREFIX64_MAP, NO_FEATURES, optionsFromEnv, renderNginxConfig } from "./render.ts";

function directive(config: string, name: string): number {
  const m = new RegExp(`^\\s*${name} (\\d+);`, "m").exec(config);
  if (!m) throw new Error(`${name} is not in the rendered configuration`);
  return Number(m[1]);
}

test("compose: room for tens of thousands of proxied WebSockets per worker, with descriptors to match", () => {
  const config = renderNginxConfig(optionsFromEnv("compose", NO_FEATURES, {}));
  expect(directive(config, "worker_connections")).toBe(65536);
  expect(directive(config, "worker_rlimit_nofile")).toBeGreaterThan(65536);
});

test("NGINX_WORKER_CONNECTIONS sets the capacity; the local target never asks for more descriptors than the machine allows", () => {
  const compose = renderNginxConfig(optionsFromEnv("compose", NO_FEATURES, { NGINX_WORKER_CONNECTIONS: "4096" }));
  expect(directive(compose, "worker_connections")).toBe(4096);
  const local = renderNginxConfig(optionsFromEnv("local", NO_FEATURES, { NGINX_WORKER_CONNECTIONS: "100000000" }));
  expect(directive(local, "worker_rlimit_nofile")).toBeLessThanOrEqual(hardDescriptorLimit());
});

test("per-client budgets: an IPv6 address's /64 in one spelling whatever its '::' hides; IPv4-mapped and others keep their own", () => {
  /** What nginx's map gives: the first entry that matches, with its captures put in. */
  const budgetOf = (addr: string): string | null => {
    for (const [re, key] of IPV6_PREFIX64_MAP) {
      const m = new RegExp(re).exec(addr);
      if (m) return key.replace(/\$(\w+)/g, (_, name: string) => m.groups![name]!);
    }
    return null; // $binary_remote_addr: its own budget
  };
  const cases: [string, string | null][] = [
    ["2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2"],
    ["2001:db8:1:2::1", "2001:db8:1:2"],
    ["2001:db8:1::2:3:4", "2001:db8:1:0"],
    ["2600:3c03::f03c:91ff:fe24:1234", "2600:3c03:0:0"],
    ["2600:3c03::1", "2600:3c03:0:0"],
    ["1::2:3:4:5:6", "1:0:0:2"],
    ["fe80::1", "fe80:0:0:0"],
    ["::2:3:4:5:6:7", "0:0:2:3"],
    ["::3:4:5:6:7", "0:0:0:3"],
    ["::1", "0:0:0:0"],
    ["::ffff:203.0.113.7", null],
    ["203.0.113.7", null],
  ];
  for (const [addr, want] of cases) expect({ addr, budget: budgetOf(addr) }).toEqual({ addr, budget: want });
  // the rendered map holds exactly these entries
  const conf = renderNginxConfig(optionsFromEnv("local", NO_FEATURES));
  for (const [re] of IPV6_PREFIX64_MAP) expect(conf).toContain(`"~${re}"`);
});
