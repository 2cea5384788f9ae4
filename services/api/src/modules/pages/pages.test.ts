import { describe, expect, test } from "bun:test";
import { useTestApi } from "../../../../../tests/harness/api.ts";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, PUBLIC_DIR } from "./build.ts";
import { pagesRoutes } from "./routes.ts";

const api = useTestApi();

describe("static pages served by the api", () => {
  test("pages are HTML, revalidated, with the strict CSP", async () => {
    for (const path of ["/", "/conversations", "/conversation?id=1", "/notifications", "/settings", "/profile", "/u/alice", "/settings.html"]) {
      const res = await fetch(api.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/html");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(await res.text()).toContain("<!doctype html>");
    }
  });

  test("versioned assets are immutable, others revalidated, ETags answer 304", async () => {
    const html = await (await fetch(api.url + "/")).text();
    const css = html.match(/href="(\/css\/index\.css\?v=[0-9a-f]+)"/)![1]!;
    const res = await fetch(api.url + css);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/css");
    expect(res.headers.get("cache-control")).toContain("immutable");
    const plain = await fetch(api.url + "/js/realtime/client.js");
    expect(plain.headers.get("cache-control")).toBe("no-cache");
    expect(plain.headers.get("content-type")).toContain("javascript");
    const again = await fetch(api.url + "/js/realtime/client.js", { headers: { "if-none-match": plain.headers.get("etag")! } });
    expect(again.status).toBe(304);
  });

  test("nothing outside public/, no sources, and the api's own routes are not shadowed", async () => {
    for (const path of ["/js/../package.json", "/js/%2e%2e/%2e%2e/package.json", "/js/nope.js", "/etc/passwd", "/css/%E0%A4%A", "/js/%25", "/img/%C0%AF"]) {
      const res = await fetch(api.url + path);
      expect(res.status, path).toBe(404);
      expect((await res.json()).error.code, path).toBe("not_found");
    }
    expect((await fetch(api.url + "/api/me")).status).toBe(401);
    expect((await fetch(api.url + "/healthz")).status).toBe(200);
    expect((await fetch(api.url + "/readyz")).status).toBe(200);
    expect((await fetch(api.url + "/metrics")).status).not.toBe(404);
  });

  test("hidden files and files of types the pages do not use are never served, even when they are in public/", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xplicit-public-"));
    try {
      mkdirSync(join(dir, "js", ".git"), { recursive: true });
      mkdirSync(join(dir, "css"), { recursive: true });
      writeFileSync(join(dir, "js", ".git", "config"), "[core]");
      writeFileSync(join(dir, "css", ".env"), "SECRET=1");
      writeFileSync(join(dir, "js", "app.js.map"), "{}");
      writeFileSync(join(dir, "css", "site.scss"), "$x: 1;");
      writeFileSync(join(dir, "css", "site.css"), "body{}");
      const app = pagesRoutes(dir);
      for (const path of ["/js/.git/config", "/css/.env", "/js/app.js.map", "/css/site.scss"]) {
        expect({ path, status: (await app.request(path)).status }).toEqual({ path, status: 404 });
      }
      expect((await app.request("/css/site.css")).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a browser asking for a page that does not exist gets a page that says so, with a 404; an API client still gets JSON", async () => {
    const browser = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
    for (const path of ["/u/", "/nonexistent-page", "/conversations/extra"]) {
      const res = await fetch(api.url + path, { headers: browser });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toContain("text/html");
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(await res.text()).toContain("Page not found");
    }
    const apiMiss = await fetch(api.url + "/api/nope", { headers: browser });
    expect(apiMiss.status).toBe(404);
    expect((await apiMiss.json()).error.code).toBe("not_found");
    const plain = await fetch(api.url + "/nonexistent-page");
    expect((await plain.json()).error.code).toBe("not_found");
    const posted = await fetch(api.url + "/nonexistent-page", { method: "POST", headers: { ...browser, origin: "http://localhost:3000" } });
    expect(posted.headers.get("content-type")).toContain("application/json");
  });

  test("public/ is built: page stylesheets and version stamps are current", () => {
    const { changed } = build(PUBLIC_DIR, true);
    expect(changed).toEqual([]);
  });
});
