/**
 * The front end's only build step, run after editing anything in public/ and committed with it:
 *
 *   bun services/api/src/modules/pages/build.ts          # write
 *   bun services/api/src/modules/pages/build.ts --check  # exit 1 when public/ is not up to date
 *
 * 1. public/css/<page>.css = styles/base.css + styles/<page>.css (one stylesheet per page; the sources
 *    sit beside this file, outside public/, so nothing has to hide them from the web), their comments
 *    left in the sources: every byte counts against the page's 30 KB.
 * 2. Every reference to a local asset in the HTML, JS and CSS ("/js/x.js", "./y.js", "../z.css", …)
 *    gets `?v=<hash>`, the hash of the referenced file's final content (its own references
 *    included, so a change deep in the module graph changes every URL above it). HTML stays
 *    un-cached; every asset URL changes when its content does, so the edge caches them as immutable.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** CSS without its comments (the sources hold no comment marker inside a string) and blank lines. */
function withoutComments(css: string): string {
  return css.replace(/\/\*[\s\S]*?\*\//g, "").replace(/[ \t]+$/gm, "").replace(/\n{2,}/g, "\n");
}

export const PUBLIC_DIR = resolve(import.meta.dir, "../../../../../public");
export const STYLES_DIR = resolve(import.meta.dir, "styles");

const REF = /(["'(])((?:\.{1,2}\/|\/)(?:[\w.-]+\/)*[\w.-]+\.(?:js|css|svg|png|webp|ico|webmanifest|woff2))(?:\?v=[0-9a-f]+)?(["')])/g;

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

export function hashOf(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 10);
}

export interface BuildResult {
  /** files whose content differs from what is on disk (relative to public/) */
  changed: string[];
  files: Map<string, string>;
}

/** Computes the built public/ in memory; writes it unless `check`. */
export function build(publicDir = PUBLIC_DIR, check = false): BuildResult {
  const files = new Map<string, string>();
  const changed: string[] = [];

  // 1. Page stylesheets.
  const srcDir = STYLES_DIR;
  if (existsSync(srcDir)) {
    const base = readFileSync(join(srcDir, "base.css"), "utf8");
    for (const name of readdirSync(srcDir)) {
      if (!name.endsWith(".css") || name === "base.css") continue;
      const out = join(publicDir, "css", name);
      const text = `/* built from styles/base.css + styles/${name} by services/api/src/modules/pages/build.ts */\n${withoutComments(base)}\n${withoutComments(readFileSync(join(srcDir, name), "utf8"))}`;
      files.set(out, text);
    }
  }

  // 2. Version stamps, dependencies first.
  const textual = walk(publicDir).filter((p) => /\.(html|js|css)$/.test(p));
  const final = new Map<string, string>();
  const visiting = new Set<string>();
  const contentOf = (p: string): string => files.get(p) ?? readFileSync(p, "utf8");

  function finalText(p: string): string {
    const done = final.get(p);
    if (done !== undefined) return done;
    if (visiting.has(p)) throw new Error(`asset reference cycle through ${relative(publicDir, p)}`);
    visiting.add(p);
    const text = contentOf(p).replace(REF, (whole, open: string, ref: string, close: string) => {
      const target = ref.startsWith("/") ? join(publicDir, ref) : resolve(dirname(p), ref);
      if (!target.startsWith(publicDir + "/") || (!files.has(target) && !existsSync(target))) return whole;
      const hash = /\.(html|js|css)$/.test(target) ? hashOf(finalText(target)) : hashOf(readFileSync(target));
      return `${open}${ref}?v=${hash}${close}`;
    });
    visiting.delete(p);
    final.set(p, text);
    return text;
  }

  for (const p of new Set([...textual, ...files.keys()])) finalText(p);
  for (const [p, text] of final) {
    const onDisk = existsSync(p) ? readFileSync(p, "utf8") : null;
    if (onDisk !== text) {
      changed.push(relative(publicDir, p));
      if (!check) writeFileSync(p, text);
    }
  }
  return { changed, files: final };
}

if (import.meta.main) {
  const check = process.argv.includes("--check");
  const { changed } = build(PUBLIC_DIR, check);
  if (check && changed.length) {
    console.error(`public/ is not built; run: bun services/api/src/modules/pages/build.ts\n  ${changed.join("\n  ")}`);
    process.exit(1);
  }
  console.log(changed.length ? `${check ? "stale" : "wrote"}: ${changed.join(", ")}` : "public/ is up to date");
}
