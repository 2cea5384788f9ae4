import { expect, test } from "bun:test";
import { CookieJar, cookieHeader, parseSetCookie } from "./cookies.ts";

const sid = parseSetCookie("__Host-sid=abc; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=600")!;

test("a Secure cookie is sent over https only, as Go's cookie jar does", () => {
  const jar = new CookieJar();
  jar.storeFrom("https://localhost:8443/api/auth/login", sid);
  expect(cookieHeader(jar, "https://localhost:8443/api/me")).toBe("__Host-sid=abc");
  expect(cookieHeader(jar, "wss://localhost:8443/ws")).toBe("__Host-sid=abc");
  expect(cookieHeader(jar, "http://localhost:3000/api/me")).toBe("");
  expect(cookieHeader(jar, "https://other.example/api/me")).toBe("");
});

test("a request's own cookie replaces the jar's only with replace: true", () => {
  const jar = new CookieJar();
  jar.storeFrom("https://localhost/", sid);
  expect(cookieHeader(jar, "https://localhost/x", { "__Host-sid": { value: "new", replace: true } })).toBe("__Host-sid=new");
  expect(cookieHeader(jar, "https://localhost/x", { "__Host-sid": "new" })).toBe("__Host-sid=new; __Host-sid=abc");
});

test("Max-Age=0 deletes, an expired cookie is not sent", () => {
  const jar = new CookieJar();
  jar.storeFrom("https://localhost/", sid);
  jar.storeFrom("https://localhost/", parseSetCookie("__Host-sid=; Path=/; Secure; Max-Age=0")!);
  expect(cookieHeader(jar, "https://localhost/")).toBe("");
});
