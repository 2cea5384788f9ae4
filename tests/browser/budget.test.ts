/**
 * Front-end budgets and rules, checked on the files nginx serves (no browser needed):
 * the first page's HTML + CSS + JS under 30 KB compressed, no third-party hosts, no inline script
 * or style, one stylesheet and one module per page, nothing render-blocking but that stylesheet.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { PUBLIC_DIR } from "../../services/api/src/modules/pages/build.ts";

const BUDGET = 30 * 1024;
const REF = /["'(]((?:\.{1,2}\/|\/)(?:[\w.-]+\/)*[\w.-]+\.(?:js|css|svg|png|webp|ico|woff2))(?:\?v=[0-9a-f]+)?["')]/g;
const pages = readdirSync(PUBLIC_DIR).filter((f) => f.endsWith(".html"));

/** The page and every file it loads, transitively (module imports, the worker, the stylesheet). */
function graph(page: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    if (!/\.(html|js|css)$/.test(file)) return;
    for (const [, ref] of readFileSync(file, "utf8").matchAll(REF)) {
      visit(ref!.startsWith("/") ? join(PUBLIC_DIR, ref!) : resolve(dirname(file), ref!));
    }
  };
  visit(join(PUBLIC_DIR, page));
  return [...seen];
}

describe("front-end budget", () => {
  test("the first page (landing) is under 30 KB compressed, HTML + CSS + JS", () => {
    const files = graph("index.html");
    const sizes = files.map((f) => Bun.gzipSync(readFileSync(f), { level: 6 }).length);
    const total = sizes.reduce((a, b) => a + b, 0);
    console.log(`landing: ${files.length} files, ${total} bytes gzip (budget ${BUDGET})`);
    expect(files.some((f) => f.endsWith(".css"))).toBe(true);
    expect(files.some((f) => f.endsWith(".js"))).toBe(true);
    expect(total).toBeLessThan(BUDGET);
  });

  test("every page, with the whole real-time client, stays small too", () => {
    for (const page of pages) {
      const total = graph(page).reduce((a, f) => a + Bun.gzipSync(readFileSync(f)).length, 0);
      expect(total, page).toBeLessThan(BUDGET);
    }
  });
});

describe("front-end rules", () => {
  const all: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else all.push(join(d, e.name));
    }
  };
  walk(PUBLIC_DIR);

  test("no request to a third-party host can come from public/", () => {
    for (const f of all.filter((x) => /\.(html|js|css|svg)$/.test(x))) {
      const urls = readFileSync(f, "utf8").match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"')]*/gi) ?? [];
      expect(urls.filter((u) => !u.startsWith("http://www.w3.org/")), f).toEqual([]);
    }
  });

  test("pages: one stylesheet, their own module, no inline script, style or handlers", () => {
    expect(pages.sort()).toEqual(["conversation.html", "conversations.html", "index.html", "not-found.html", "notifications.html", "profile.html", "settings.html", "terms.html"]);
    for (const page of pages) {
      const html = readFileSync(join(PUBLIC_DIR, page), "utf8");
      const name = page.replace(/\.html$/, "");
      const sheets = [...html.matchAll(/<link[^>]+rel="stylesheet"[^>]*>/g)].map((m) => m[0]);
      expect(sheets, page).toHaveLength(1);
      expect(sheets[0]).toContain(`href="/css/${name}.css?v=`);
      const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
      expect(scripts, page).toEqual([expect.stringMatching(new RegExp(`^<script type="module" src="/js/pages/${name}\\.js\\?v=[0-9a-f]+">$`))]);
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/\sstyle=/);
      expect(html).not.toMatch(/<style\b/);
      expect(html).not.toMatch(/\son[a-z]+=/);
      expect(html).toContain('<meta name="viewport"');
      expect(html).toMatch(/<html lang="en">/);
      // Every form control has a label.
      for (const [, id] of html.matchAll(/<(?:input|textarea|select)\b[^>]*\bid="([^"]+)"/g)) {
        expect(html, `${page} #${id}`).toMatch(new RegExp(`<label[^>]*for="${id}"|<label[^>]*>\\s*<input[^>]*id="${id}"`));
      }
    }
  });

  test("the JavaScript never sets inline styles or uses eval-like APIs the CSP refuses", () => {
    for (const f of all.filter((x) => x.endsWith(".js"))) {
      const js = readFileSync(f, "utf8");
      expect(js, f).not.toMatch(/\.style\.|setAttribute\(\s*['"]style|innerHTML|new Function|\beval\(/);
    }
  });
});
