/** Writes this benchmark's section of docs/benchmarks.md, leaving every other section as it is. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const FILE = new URL("../../docs/benchmarks.md", import.meta.url).pathname;
const HEADING = "## Notifications fan-out";

export function writeSection(body: string): void {
  const current = existsSync(FILE) ? readFileSync(FILE, "utf8") : "# Benchmarks\n";
  const section = `${HEADING}\n\n${body.trim()}\n`;
  const start = current.indexOf(`${HEADING}\n`);
  let next: string;
  if (start < 0) {
    next = `${current.trimEnd()}\n\n${section}`;
  } else {
    const after = current.indexOf("\n## ", start + HEADING.length);
    next = current.slice(0, start) + section + (after < 0 ? "" : `\n${current.slice(after + 1)}`);
  }
  writeFileSync(FILE, next.endsWith("\n") ? next : `${next}\n`);
}
