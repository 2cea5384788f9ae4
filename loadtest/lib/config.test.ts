import { expect, test } from "bun:test";

(globalThis as Record<string, unknown>).__ENV ??= {};
const { webSocketUrlsFor } = await import("./config.ts");

test("WS_URL unset follows BASE_URL: nginx's /ws for https, the local stack's replicas beside its api", () => {
  expect(webSocketUrlsFor("https://localhost:8443", "")).toEqual(["wss://localhost:8443/ws"]);
  expect(webSocketUrlsFor("https://chat.example", "")).toEqual(["wss://chat.example/ws"]);
  expect(webSocketUrlsFor("http://127.0.0.1:3000", "")).toEqual(["ws://127.0.0.1:3101/ws", "ws://127.0.0.1:3102/ws"]);
  expect(webSocketUrlsFor("http://10.1.2.3:3000", "")).toEqual(["ws://10.1.2.3:3101/ws", "ws://10.1.2.3:3102/ws"]);
});

test("any other http BASE_URL without WS_URL is refused with what to set", () => {
  expect(() => webSocketUrlsFor("http://127.0.0.1:4100", "")).toThrow(/WS_URL is not set.*-e WS_URL=ws:\/\/127\.0\.0\.1:3101\/ws/);
});

test("a WS_URL given is taken as it is, and a malformed one refused", () => {
  expect(webSocketUrlsFor("http://127.0.0.1:4100", "ws://a:1/ws, ws://b:2/ws")).toEqual(["ws://a:1/ws", "ws://b:2/ws"]);
  expect(() => webSocketUrlsFor("https://x", "http://a/ws")).toThrow(/comma-separated list/);
  expect(() => webSocketUrlsFor("https://x", " , ")).toThrow(/comma-separated list/);
});
