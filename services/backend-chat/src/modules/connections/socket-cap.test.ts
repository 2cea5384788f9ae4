import { expect, test } from "bun:test";
import { ConfigError } from "@xplicit/shared/config";
import { freePort } from "../../../../../tests/harness/stack.ts";
import { DESCRIPTOR_RESERVE, openFileLimit, socketCapFor } from "./socket-cap.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             95034                95034                processes
Max open files            20000                1048576              files
Max locked memory         8388608              8388608              bytes
`;

test("the open-file limit is the soft one; unlimited or unreadable is no limit", () => {
  expect(openFileLimit(LIMITS)).toBe(20000);
  expect(openFileLimit(LIMITS.replace("20000  ", "unlimited"))).toBeNull();
  expect(openFileLimit("")).toBeNull();
  // this process' own (the replica reads the same file)
  expect(openFileLimit()).toBeGreaterThan(0);
});

test("by default a replica takes as many sockets as its descriptors leave room for", () => {
  expect(socketCapFor(null, 20000)).toBe(20000 - DESCRIPTOR_RESERVE);
  expect(socketCapFor(null, 100)).toBe(1);
  expect(socketCapFor(null, null)).toBe(Number.MAX_SAFE_INTEGER);
});

test("CHAT_MAX_SOCKETS beyond what the descriptors carry is refused, naming the variable and the limit", () => {
  expect(socketCapFor(5000, 20000)).toBe(5000);
  expect(socketCapFor(20000 - DESCRIPTOR_RESERVE, 20000)).toBe(20000 - DESCRIPTOR_RESERVE);
  expect(() => socketCapFor(20000, 20000)).toThrow(ConfigError);
  expect(() => socketCapFor(20000, 20000)).toThrow(/CHAT_MAX_SOCKETS.*ulimit -n 20000/);
  expect(socketCapFor(1_000_000, null)).toBe(1_000_000);
});

test("a replica started with CHAT_MAX_SOCKETS above its limit stops at once with a message naming it", async () => {
  // (a lowered limit: raising one is not always allowed, and the machine's may be unlimited)
  const proc = Bun.spawn(["sh", "-c", 'ulimit -n 4096 && exec "$0" services/backend-chat/src/main.ts', process.execPath], {
    cwd: new URL("../../../../..", import.meta.url).pathname,
    env: { ...process.env, CHAT_PORT: String(await freePort()), CHAT_MAX_SOCKETS: "10000", LOG_LEVEL: "warn" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const code = await Promise.race([proc.exited, Bun.sleep(20_000).then(() => "still running")]);
  if (code === "still running") proc.kill();
  const stderr = await new Response(proc.stderr).text();
  expect(code).toBe(78);
  expect(stderr).toContain('"variable":"CHAT_MAX_SOCKETS"');
  expect(stderr).toContain("ulimit -n 4096");
}, 30_000);
