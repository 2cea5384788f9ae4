/**
 * Writes docs/benchmarks.md and the SVG charts in docs/benchmarks/ from the JSON the benchmarks
 * left in .tmp/bench/ (chat.json, connections.json, http.json) plus the hand-written analysis in
 * bench/analysis.md. The "## Notifications fan-out" section belongs to bench/notifications and is
 * carried over untouched.
 *
 *   bun bench/report.ts            # regenerate from the last run's JSON
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChatReport, ChatRow } from "./chat/run.ts";
import type { ConnReport } from "./connections/run.ts";
import type { HttpReport } from "./http/run.ts";
import { ROOT } from "./lib/procs.ts";
import { fmt, ratio } from "./lib/stats.ts";
import { TARGETS as T } from "./lib/targets.ts";

const DOC = join(ROOT, "docs", "benchmarks.md");
const IMG_DIR = join(ROOT, "docs", "benchmarks");
const TMP = join(ROOT, ".tmp", "bench");
const NOTIF_HEADING = "## Notifications fan-out";

export interface RunInfo {
  machine: string;
  commit: string;
  date: string;
  durationS: number;
  loadBefore: string;
}

function readJson<T>(name: string): T | null {
  const p = join(TMP, name);
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as T) : null;
}

const SYSTEMS = [
  { key: "xplicit", label: "Xplicit chat tier (persisted, acked)", color: "#c2185b" },
  { key: "floor", label: "Floor: Bun WS + Redis pub/sub relay", color: "#1565c0" },
  { key: "socketio", label: "socket.io + redis-adapter (Node)", color: "#2e7d32" },
] as const;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** p99 (solid) and p50 (dashed) latency against offered rate, log-scale y. */
export function latencyChart(rows: ChatRow[]): string {
  const W = 720, H = 420, L = 70, R = 20, T = 40, B = 110;
  const rates = [...new Set(rows.map((r) => r.rate))].sort((a, b) => a - b);
  const vals = rows.flatMap((r) => [r.p50, r.p99]).filter((v) => Number.isFinite(v) && v > 0);
  const yMin = 0.5;
  const yMax = Math.max(200, ...vals) * 1.3;
  const x = (rate: number) => L + (rates.length === 1 ? (W - L - R) / 2 : (rates.indexOf(rate) * (W - L - R)) / (rates.length - 1));
  const y = (v: number) => T + (H - T - B) * (1 - (Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">Chat delivery latency vs offered rate (p99 solid, p50 dashed)</text>`);
  for (let d = Math.ceil(Math.log10(yMin)); d <= Math.log10(yMax); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v < yMin || v > yMax) continue;
      out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v >= 1 ? v : v.toFixed(1)}</text>`);
    }
  }
  for (const [v, label] of [[25, "target p99 at 8k/s: 25 ms"], [100, "100 ms"]] as const) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#999" stroke-dasharray="2,3"/>`);
    out.push(`<text x="${W - R - 4}" y="${(y(v) - 4).toFixed(1)}" text-anchor="end" fill="#777">${label}</text>`);
  }
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`);
  for (const r of rates) out.push(`<text x="${x(r).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${r.toLocaleString("en-US")}</text>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - B + 36}" text-anchor="middle">offered rate (messages/s, ${"1,000"} members over 3 replicas)</text>`);
  out.push(`<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">latency, ms (log)</text>`);
  for (const s of SYSTEMS) {
    const mine = rows.filter((r) => r.system === s.key).sort((a, b) => a.rate - b.rate);
    for (const [field, dash] of [["p99", ""], ["p50", ' stroke-dasharray="6,4"']] as const) {
      const pts = mine.filter((r) => Number.isFinite(r[field])).map((r) => `${x(r.rate).toFixed(1)},${y(r[field]).toFixed(1)}`);
      if (pts.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.join(" ")}"/>`);
      for (const r of mine) if (Number.isFinite(r[field])) out.push(`<circle cx="${x(r.rate).toFixed(1)}" cy="${y(r[field]).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
  }
  SYSTEMS.forEach((s, i) => {
    const ly = H - B + 56 + i * 16;
    out.push(`<line x1="${L}" x2="${L + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/><text x="${L + 30}" y="${ly}">${esc(s.label)}</text>`);
  });
  out.push(`</svg>`);
  return out.join("\n");
}

/** KiB of RSS per idle connection, grouped by socket count. */
export function memoryChart(report: ConnReport): string {
  const rows = report.rows.filter((r) => r.ran);
  const W = 560, H = 340, L = 60, R = 20, T = 40, B = 80;
  const counts = [...new Set(rows.map((r) => r.sockets))].sort((a, b) => a - b);
  const yMax = Math.max(6, ...rows.map((r) => r.bytesPerConnection / 1024)) * 1.2;
  const y = (kib: number) => T + (H - T - B) * (1 - kib / yMax);
  const groupW = (W - L - R) / Math.max(1, counts.length);
  const systems = [SYSTEMS[0], SYSTEMS[1]];
  const barW = Math.min(60, groupW / 3);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">RSS per idle authenticated connection (one replica)</text>`);
  for (let v = 0; v <= yMax; v += yMax > 20 ? 5 : 2) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  }
  out.push(`<line x1="${L}" x2="${W - R}" y1="${y(4).toFixed(1)}" y2="${y(4).toFixed(1)}" stroke="#999" stroke-dasharray="2,3"/><text x="${W - R - 4}" y="${(y(4) - 4).toFixed(1)}" text-anchor="end" fill="#777">target 4 KB</text>`);
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`);
  counts.forEach((n, gi) => {
    const gx = L + gi * groupW + groupW / 2;
    systems.forEach((s, si) => {
      const r = rows.find((row) => row.sockets === n && row.system === s.key);
      if (!r) return;
      const kib = r.bytesPerConnection / 1024;
      const bx = gx + (si - 1) * barW + 2;
      out.push(`<rect x="${bx.toFixed(1)}" y="${y(kib).toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${(H - B - y(kib)).toFixed(1)}" fill="${s.color}"/>`);
      out.push(`<text x="${(bx + (barW - 4) / 2).toFixed(1)}" y="${(y(kib) - 4).toFixed(1)}" text-anchor="middle">${kib.toFixed(1)}</text>`);
    });
    out.push(`<text x="${gx.toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${n.toLocaleString("en-US")} sockets</text>`);
  });
  out.push(`<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">KiB per connection</text>`);
  systems.forEach((s, i) => {
    const ly = H - B + 40 + i * 16;
    out.push(`<rect x="${L}" y="${ly - 10}" width="14" height="10" fill="${s.color}"/><text x="${L + 20}" y="${ly}">${esc(s.key === "xplicit" ? "Xplicit chat replica" : "Floor relay (same clients)")}</text>`);
  });
  out.push(`</svg>`);
  return out.join("\n");
}

/** Highest offered rate whose median p99 is ≤ limitMs with nothing lost (NaN if none). */
export function highestRate(rows: ChatRow[], system: string, limitMs: number): number {
  const ok = rows.filter((r) => r.system === system && r.p99 <= limitMs && r.lost === 0 && r.deliveredPerSec > 0);
  return ok.length ? Math.max(...ok.map((r) => r.rate)) : NaN;
}

/**
 * Xplicit's highest rate against another system's. A system that passed the top rate tried has a
 * highest rate only known from below: Xplicit's ratio to it is an upper bound, its own passing the
 * top makes the ratio a lower bound, and both passing leaves it unknown.
 */
export function compareHighest(hx: number, other: number, top: number): { text: string; kind: "exact" | "upper" | "lower" | "unknown" | "unmeasured" } {
  if (!Number.isFinite(hx) || !Number.isFinite(other)) return { text: "–", kind: "unmeasured" };
  const xOpen = hx === top;
  const otherOpen = other === top;
  if (xOpen && otherOpen) return { text: "? (both passed every rate tried)", kind: "unknown" };
  if (otherOpen) return { text: `≤ ${ratio(hx, other)}`, kind: "upper" };
  if (xOpen) return { text: `≥ ${ratio(hx, other)}`, kind: "lower" };
  return { text: ratio(hx, other), kind: "exact" };
}

/** The verdict on "Xplicit's highest rate ≥ target × the other's", given what the bounds allow. */
function highestVerdict(hx: number, other: number, top: number, target: number, lowest: number): string {
  if (!Number.isFinite(hx) && Number.isFinite(other) && Number.isFinite(lowest)) {
    // Xplicit passed none of the rates: its highest is below the lowest tried
    return `< ${ratio(lowest, other)} (Xplicit passed none of the rates tried; ${other.toLocaleString("en-US")}/s for the other) | ${lowest / other <= target ? "missed" : "not shown (below the lowest rate tried)"}`;
  }
  const c = compareHighest(hx, other, top);
  const r = hx / other;
  if (c.kind === "unmeasured") return `– | not measured (a system missing from this run, or no rate passed)`;
  const met = (c.kind === "exact" || c.kind === "lower") && r >= target;
  const missed = (c.kind === "exact" || c.kind === "upper") && r < target;
  return `${c.text} | ${met ? "met" : missed ? "missed" : "not shown (a system passed every rate tried)"}`;
}

function chatSection(chat: ChatReport): string[] {
  const out: string[] = [];
  out.push(`## Chat: Xplicit vs the floor vs socket.io`, "");
  out.push(
    `${chat.members.toLocaleString("en-US")} members, one socket each, spread round-robin over ${chat.replicas} replicas of every system; ` +
      `${(chat.members / 2).toLocaleString("en-US")} 1:1 conversations; every member sends to its partner at rate ÷ ${chat.members.toLocaleString("en-US")} messages/s. ` +
      `Each step sends for ${chat.seconds} s and waits ${chat.drain} s for stragglers; each (system, rate) ran ${chat.reps}× with the three systems interleaved ` +
      `(rate by rate, order rotated per repetition); figures are medians of the repetitions (lost/duplicated are sums). ` +
      `Latency = receive time − \`clientTs\` in the message, for the copy on the partner's socket. ` +
      `"late" = copies not there when the drain window closed; "lost" = copies still missing after the system went idle again (the harness waits for its processes' CPU to settle before the next step). ` +
      `CPU = utime+stime from /proc of the system's 3 server processes per 10,000 messages sent; "+pg+redis" adds the Postgres backends of the bench database, ` +
      `its WAL writer/checkpointer and the Redis server (which other work on the machine also uses).`,
    "",
  );
  out.push(`![Chat latency vs rate](benchmarks/chat-latency.svg)`, "");
  out.push(
    `| rate/s | system | delivered/s | p50 ms | p99 ms | max ms | late | lost | dup | CPU s /10k msgs | +pg+redis | p99 vs floor | p99 vs socket.io | CPU vs floor | CPU vs socket.io |`,
    `|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  );
  for (const rate of chat.rates) {
    const at = (s: string) => chat.rows.find((r) => r.system === s && r.rate === rate);
    const floor = at("floor");
    const sio = at("socketio");
    for (const s of SYSTEMS) {
      const r = at(s.key);
      if (!r) {
        out.push(`| ${rate.toLocaleString("en-US")} | ${s.key} | past the knee at a lower rate (p99 > ${chat.saturatedP99Ms ?? 500} ms): not run | | | | | | | | | | | | |`);
        continue;
      }
      out.push(
        `| ${rate.toLocaleString("en-US")} | ${s.key} | ${fmt(r.deliveredPerSec, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max, 0)} | ${r.late ?? "–"} | ${r.lost} | ${r.duplicated} | ${fmt(r.cpuPer10k, 2)} | ${fmt(r.cpuPer10kAll, 2)} | ` +
          `${s.key === "floor" ? "–" : ratio(r.p99, floor?.p99 ?? NaN)} | ${s.key === "socketio" ? "–" : ratio(r.p99, sio?.p99 ?? NaN)} | ` +
          `${s.key === "floor" ? "–" : ratio(r.cpuPer10k, floor?.cpuPer10k ?? NaN)} | ${s.key === "socketio" ? "–" : ratio(r.cpuPer10k, sio?.cpuPer10k ?? NaN)} |`,
      );
    }
  }
  out.push("");
  const hx = highestRate(chat.rows, "xplicit", T.ratioLineP99Ms);
  const hf = highestRate(chat.rows, "floor", T.ratioLineP99Ms);
  const hs = highestRate(chat.rows, "socketio", T.ratioLineP99Ms);
  out.push(`Highest offered rate with p99 ≤ ${T.ratioLineP99Ms} ms and nothing lost (within the rates tried; "≥" when the top rate still passed):`, "");
  const top = Math.max(...chat.rates);
  const show = (v: number) => (Number.isFinite(v) ? `${v === top ? "≥ " : ""}${v.toLocaleString("en-US")}/s` : "none of the rates tried");
  out.push(`| system | highest rate | Xplicit ÷ it |`, `|---|---:|---:|`);
  out.push(`| xplicit | ${show(hx)} | – |`, `| floor | ${show(hf)} | ${compareHighest(hx, hf, top).text} |`, `| socketio | ${show(hs)} | ${compareHighest(hx, hs, top).text} |`, "");
  if (chat.profile) out.push(...profileSection(chat.profile));
  const gen = chat.rows.map((r) => r.generatorCpuPer10k).filter(Number.isFinite);
  if (gen.length) out.push(`The load generator itself (same machine) used ${fmt(Math.min(...gen), 2)}–${fmt(Math.max(...gen), 2)} CPU s per 10k messages.`, "");
  return out;
}

/** Where the CPU went during one extra step per system, from `perf` sampling the whole machine. */
function profileSection(profile: NonNullable<ChatReport["profile"]>): string[] {
  const out: string[] = [
    `### Where the CPU goes at ${profile.rate.toLocaleString("en-US")} msg/s`,
    "",
    `One more step per system after the measured ones (not in the tables above), the whole machine sampled by Linux \`perf\` ` +
      `at ${profile.hz} Hz per core for ${profile.seconds} s (kernel included; idle not counted): CPU µs per message sent, split into the system's own servers, ` +
      `the generator, Postgres, Redis and everything else. "kernel" and "JIT" are the shares of a group's samples in the kernel (sockets, scheduling) ` +
      `and in JIT-compiled JavaScript; Bun's native code has no symbols, Postgres' and Redis' do.`,
    "",
  ];
  const systems = SYSTEMS.filter((s) => profile.systems[s.key]);
  out.push(`| group | ${systems.map((s) => `${s.key} µs/msg (kernel, JIT)`).join(" | ")} |`, `|---|${systems.map(() => "---:").join("|")}|`);
  const groups = [...new Set(systems.flatMap((s) => profile.systems[s.key]!.map((g) => g.group)))];
  const pct = (v: number) => `${Math.round(v * 100)} %`;
  for (const g of groups) {
    const cells = systems.map((s) => {
      const row = profile.systems[s.key]!.find((x) => x.group === g);
      return row ? `${fmt(row.usPerMsg, 0)} (${pct(row.kernel)}, ${pct(row.jit)})` : "–";
    });
    out.push(`| ${g} | ${cells.join(" | ")} |`);
  }
  const total = systems.map((s) => fmt(profile.systems[s.key]!.reduce((a, x) => a + x.usPerMsg, 0), 0));
  out.push(`| **whole machine** | ${total.map((t) => `**${t}**`).join(" | ")} |`, "");
  out.push(`Heaviest named symbols (share of the group's samples):`, "");
  for (const s of systems) {
    for (const row of profile.systems[s.key]!) {
      if (!row.top.length || row.group === "other") continue;
      out.push(`- ${s.key}, ${row.group}: ${row.top.map((t) => `\`${t.symbol}\` ${pct(t.share)}`).join(", ")}`);
    }
  }
  out.push("");
  return out;
}

function connectionsSection(conn: ConnReport): string[] {
  const out: string[] = [`## Connections: memory per idle authenticated socket`, ""];
  out.push(
    `One chat replica; each socket is a distinct member's, authenticated by session cookie on upgrade, with hello → welcome → synced done, then idle. ` +
      `Per-connection = (replica RSS with N sockets − RSS with 200 warm-up sockets) ÷ (N − 200), read once RSS has stopped moving (< 1 % over 2 s, 10–15 s after the last socket); ` +
      `each system measured ${conn.rows[0]?.samples?.length ?? 1}× in a freshly started process, the median shown with every repetition's figure. ` +
      `The floor relay (Bun WebSocket + a Redis subscription per member, no auth) is measured in the same run with the same clients. ` +
      `Descriptor limit here: soft ${conn.fdLimit.soft}, hard ${conn.fdLimit.hard}; ephemeral ports ${conn.portRange}.`,
    "",
  );
  out.push(`![Memory per connection](benchmarks/connections-memory.svg)`, "");
  out.push(`| sockets | system | RSS before | RSS after | RSS per connection (median) | each repetition | of which JS heap |`, `|---:|---|---:|---:|---:|---|---:|`);
  for (const r of conn.rows) {
    out.push(
      r.ran
        ? `| ${r.sockets.toLocaleString("en-US")} | ${r.system} | ${r.rssBaseMiB.toFixed(1)} MiB | ${r.rssMiB.toFixed(1)} MiB | ${(r.bytesPerConnection / 1024).toFixed(2)} KiB | ${(r.samples ?? []).map((b) => (b / 1024).toFixed(2)).join(", ")} KiB | ${Number.isFinite(r.heapBytesPerConnection) ? `${(r.heapBytesPerConnection / 1024).toFixed(2)} KiB` : "–"} |`
        : `| ${r.sockets.toLocaleString("en-US")} | ${r.system} | not run: ${r.note} | | | | |`,
    );
  }
  out.push("");
  return out;
}

function httpSection(http: HttpReport): string[] {
  const out: string[] = [`## HTTP: notifications list and profile read, direct vs nginx + TLS`, ""];
  out.push(
    `${http.tool === "wrk" ? "wrk" : "a Bun keep-alive client"} (2 threads), ${http.connections.join(" and ")} keep-alive connections for the list, ${http.connections.at(-1)} for the profile, ${http.seconds} s per measurement, ${http.reps} interleaved repetitions, medians. ` +
      `Each connection sends its next request when the last one is answered, so latency grows with the connections kept busy: the rows at fewer connections show the latency at the rate they reach. ` +
      `One member with 200 notifications asks for the 20 newest (\`GET /api/notifications?limit=20\`) and reads another member's profile. ` +
      `nginx: the repository's rendered config (TLS 1.2/1.3, HTTP/1.1 keep-alive to the api), ${http.nginxWorkers} worker(s), per-IP api rate limit raised for the run. One api process.`,
    "",
  );
  const groups = [...new Set(http.rows.flatMap((r) => Object.keys(r.cpuUs ?? {})))];
  out.push(
    `| endpoint | path | connections | requests/s | p50 ms | p99 ms | errors | ${groups.map((g) => `${g} µs/req`).join(" | ")} |`,
    `|---|---|---:|---:|---:|---:|---:|${groups.map(() => "---:").join("|")}|`,
  );
  for (const r of http.rows) {
    const cpu = groups.map((g) => (r.cpuUs?.[g] === undefined ? "–" : fmt(r.cpuUs[g]!, 0)));
    out.push(`| \`${r.endpoint}\` | ${r.path} | ${r.connections} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.errors} | ${cpu.join(" | ")} |`);
  }
  out.push("", "CPU per request: utime + stime from /proc of each group's processes over the measurement (api: the one api process; nginx: its master and workers; postgres and redis: every such process on the machine; client: wrk's own rusage), divided by the requests answered.");
  out.push("");
  return out;
}

function targetsSection(chat: ChatReport | null, conn: ConnReport | null, http: HttpReport | null): string[] {
  const out: string[] = [`## Targets (issue 7) against this run`, "", `| target | measured | verdict |`, `|---|---|---|`];
  if (chat) {
    const r8 = chat.rows.find((r) => r.system === "xplicit" && r.rate === T.chatRate);
    out.push(
      r8
        ? `| ${T.chatRate.toLocaleString("en-US")} msg/s persisted + acked: p99 ≤ ${T.chatP99Ms} ms, 0 lost, 0 dup | p99 ${fmt(r8.p99)} ms, delivered ${fmt(r8.deliveredPerSec, 0)}/s, lost ${r8.lost}, dup ${r8.duplicated} | ${r8.p99 <= T.chatP99Ms && r8.lost === 0 && r8.duplicated === 0 ? "met" : `missed${r8.p99 > T.chatP99Ms ? ` (p99 ${ratio(r8.p99, T.chatP99Ms)} the target)` : ""}`} |`
        : `| ${T.chatRate.toLocaleString("en-US")} msg/s: p99 ≤ ${T.chatP99Ms} ms | not reached (${T.chatRate.toLocaleString("en-US")} not in the rates) | missed |`,
    );
    const hx = highestRate(chat.rows, "xplicit", T.ratioLineP99Ms);
    const hf = highestRate(chat.rows, "floor", T.ratioLineP99Ms);
    const hs = highestRate(chat.rows, "socketio", T.ratioLineP99Ms);
    const top = Math.max(...chat.rates);
    const lowest = Math.min(...chat.rates);
    out.push(`| highest rate at p99 ≤ ${T.ratioLineP99Ms} ms ≥ ${T.vsSocketio}× socket.io | ${highestVerdict(hx, hs, top, T.vsSocketio, lowest)} |`);
    out.push(`| … and ≥ ${T.vsFloor}× the floor | ${highestVerdict(hx, hf, top, T.vsFloor, lowest)} |`);
  }
  if (conn) {
    const rows = conn.rows.filter((r) => r.system === "xplicit" && r.ran);
    const worst = rows.length ? Math.max(...rows.map((r) => r.bytesPerConnection)) : NaN;
    out.push(`| ≤ ${T.bytesPerConnection / 1024} KB RSS per idle authenticated connection | ${rows.map((r) => `${(r.bytesPerConnection / 1024).toFixed(2)} KiB at ${r.sockets.toLocaleString("en-US")}`).join(", ") || "–"} | ${worst <= T.bytesPerConnection ? "met" : `missed (${ratio(worst, T.bytesPerConnection)})`} |`);
  }
  if (http) {
    const list = http.rows.filter((x) => x.endpoint.includes("notifications") && x.path === "nginx+TLS");
    // met when some connection count serves the rate within the latency; else the one closest to it
    const meets = list.filter((x) => x.rps >= T.listRps && x.p99 <= T.listP99Ms);
    const r = meets[0] ?? [...list].sort((a, b) => b.rps / Math.max(b.p99, T.listP99Ms) - a.rps / Math.max(a.p99, T.listP99Ms))[0];
    const all = list.map((x) => `${x.connections} connections: ${fmt(x.rps, 0)} req/s, p99 ${fmt(x.p99, 2)} ms`).join("; ");
    out.push(
      r
        ? `| notifications list via nginx + TLS ≥ ${T.listRps.toLocaleString("en-US")} req/s, p99 ≤ ${T.listP99Ms} ms | ${all} | ${meets.length ? `met (at ${r.connections} connections)` : `missed (${ratio(r.rps, T.listRps)} of the rate${r.p99 > T.listP99Ms ? `, p99 ${ratio(r.p99, T.listP99Ms)}` : ""} at ${r.connections} connections)`} |`
        : `| notifications list via nginx + TLS | not measured | – |`,
    );
  }
  out.push("");
  return out;
}

function existingNotificationsSection(): string {
  if (!existsSync(DOC)) return "";
  const text = readFileSync(DOC, "utf8");
  const i = text.indexOf(NOTIF_HEADING);
  if (i < 0) return "";
  const rest = text.slice(i + NOTIF_HEADING.length);
  const j = rest.search(/\n## (?!#)/);
  return NOTIF_HEADING + (j < 0 ? rest : rest.slice(0, j + 1)).replace(/\s+$/, "") + "\n";
}

export function writeReport(info: RunInfo): void {
  const chat = readJson<ChatReport>("chat.json");
  const conn = readJson<ConnReport>("connections.json");
  const http = readJson<HttpReport>("http.json");
  mkdirSync(IMG_DIR, { recursive: true });
  if (chat) writeFileSync(join(IMG_DIR, "chat-latency.svg"), latencyChart(chat.rows) + "\n");
  if (conn) writeFileSync(join(IMG_DIR, "connections-memory.svg"), memoryChart(conn) + "\n");
  const notif = existingNotificationsSection();
  const analysisPath = join(ROOT, "bench", "analysis.md");
  const analysis = existsSync(analysisPath) ? readFileSync(analysisPath, "utf8").trim() : "";
  const out: string[] = [
    `# Benchmarks`,
    "",
    `Generated by \`npm run bench\` (bench/run.ts → bench/report.ts); the analysis at the end is written by hand (bench/analysis.md). ` +
      `Performance is measured here, by plain scripts that print their figures and conditions — never by timed assertions in tests. ` +
      `Re-run any part alone: \`npm run bench:chat\`, \`npm run bench:connections\`, \`npm run bench:http\`; then \`bun bench/report.ts\`.`,
    "",
    `## Conditions`,
    "",
    `- Machine: ${info.machine}. Shared and noisy: other work ran on it during the run; load average (1, 5, 15 min) before the run: ${info.loadBefore}.`,
    `- Load generator on the same machine (it competes for the same 2 cores). Postgres and Redis local.`,
    ...(chat && chat.rows.length
      ? [`- Whole-machine CPU busy during the chat steps (from /proc/stat, everything on the box): ${Math.round(Math.min(...chat.rows.map((r) => r.machineBusy)) * 100)}–${Math.round(Math.max(...chat.rows.map((r) => r.machineBusy)) * 100)}%. Absolute figures depend on this; the ratios between systems measured in the same run are the robust result.`]
      : []),
    `- Commit ${info.commit}, ${info.date}; whole run ${Math.round(info.durationS)} s.`,
    `- Every benchmark starts from a fresh database \`xplicit_bench\` and Redis prefix \`xpbench:\` (dropped afterwards), so it never touches tests or a dev stack.`,
    `- Services run as separate processes (tests/harness/stack.ts): api, chat replicas, with \`NODE_ENV=production\`, \`LOG_LEVEL=warn\`; ` +
      `the chat replicas' per-socket rate limit is lifted (\`CHAT_RATE_PER_SECOND=10000\`) because one bench socket carries rate ÷ members messages/s.`,
    "",
    ...targetsSection(chat, conn, http),
    ...(chat ? chatSection(chat) : [`## Chat`, "", "Not run.", ""]),
    ...(conn ? connectionsSection(conn) : [`## Connections`, "", "Not run.", ""]),
    ...(http ? httpSection(http) : [`## HTTP`, "", "Not run.", ""]),
    notif || `${NOTIF_HEADING}\n\nWritten by bench/notifications (issue 4).\n`,
    ...(analysis ? [analysis, ""] : []),
  ];
  writeFileSync(DOC, out.join("\n"));
  process.stderr.write(`[bench] wrote ${DOC}\n`);
}

if (import.meta.main) {
  const { machineDescription } = await import("./lib/proc.ts");
  const last = readJson<RunInfo>("run.json");
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
  writeReport(last ?? { machine: machineDescription(), commit, date: new Date().toISOString(), durationS: 0, loadBefore: "n/a (regenerated from the last run)" });
}
