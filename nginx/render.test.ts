import { expect, test } from "bun:test";
import { hardDescriptorLimit, NO_FEATURES, optionsFromEnv, renderNginxConfig } from "./render.ts";

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
