/**
 * The web front end's static files, for when the api runs without nginx in front (in the stack,
 * nginx serves /css, /js and /img from public/ itself and proxies the page routes here).
 *
 * Pages are plain HTML (revalidated on every use); assets with a `?v=` stamp (see build.ts) are
 * immutable. Only the routes below are served, so nothing here can shadow /api, /healthz, /readyz,
 * /status or /metrics.
 */
import { Hono, type Context } from "hono";
import { existsSync, statSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { PUBLIC_DIR } from "./build.ts";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".webmanifest": "application/manifest+json",
};

/**
 * Only files the pages use: a known asset type, and no hidden path segment (`.git/`, `.env`) or
 * parent reference — whatever else lands in public/ (an editor's backup, a source map) stays unseen.
 */
function isPublicAsset(rel: string): boolean {
  const ext = extname(rel);
  return ext in TYPES && ext !== ".html" && !rel.includes("..") && !rel.includes("/.");
}

/** Clean page URLs → files in public/. */
export const PAGES: Record<string, string> = {
  "/": "index.html",
  "/conversations": "conversations.html",
  "/conversation": "conversation.html",
  "/notifications": "notifications.html",
  "/settings": "settings.html",
  "/profile": "profile.html",
  "/terms": "terms.html",
};

export function pagesRoutes(publicDir = PUBLIC_DIR) {
  const app = new Hono();

  function send(c: Context, rel: string, immutable: boolean) {
    const path = normalize(join(publicDir, rel));
    if (!path.startsWith(publicDir + "/") || !existsSync(path)) return c.notFound();
    const st = statSync(path);
    if (!st.isFile()) return c.notFound();
    const etag = `W/"${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
    const headers: Record<string, string> = {
      "Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
      "Cache-Control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
      ETag: etag,
    };
    if (c.req.header("if-none-match") === etag) return new Response(null, { status: 304, headers });
    return new Response(c.req.method === "HEAD" ? null : Bun.file(path), { status: 200, headers });
  }

  for (const [route, file] of Object.entries(PAGES)) {
    app.get(route, (c) => send(c, file, false));
    if (route !== "/") app.get(route + ".html", (c) => send(c, file, false));
  }
  app.get("/index.html", (c) => send(c, "index.html", false));
  app.get("/u/:handle", (c) => send(c, "profile.html", false));

  app.get("/:dir{css|js|img|fonts|assets}/*", (c) => {
    let rel: string;
    try {
      rel = decodeURIComponent(c.req.path);
    } catch {
      return c.notFound(); // malformed percent-encoding (e.g. /css/%E0%A4%A): no such file, not a 500
    }
    if (!isPublicAsset(rel)) return c.notFound();
    return send(c, rel, c.req.query("v") !== undefined);
  });
  app.get("/favicon.ico", (c) => send(c, "img/icon.svg", false));

  return app;
}

/**
 * A browser asking for a page that does not exist (a mistyped address, `/u/` without a handle)
 * gets a page that says so, with a 404, instead of the API's JSON error; null for anything else.
 */
export function pageNotFound(publicDir = PUBLIC_DIR) {
  const file = join(publicDir, "not-found.html");
  return (c: Context): Response | null => {
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD") return null;
    if (c.req.path.startsWith("/api/") || !(c.req.header("accept") ?? "").includes("text/html") || !existsSync(file)) return null;
    return new Response(method === "HEAD" ? null : Bun.file(file), { status: 404, headers: { "Content-Type": TYPES[".html"]!, "Cache-Control": "no-cache" } });
  };
}
