/**
 * Chat load generator: many members, their sockets spread over the replicas (directly or one
 * nginx URL), a target send rate, end-to-end latency from the `clientTs` each message carries,
 * lost and duplicated deliveries counted per (message, receiving socket). The same measurement as
 * the k6 `chat` scenario (loadtest/lib/metrics.ts), for three systems with one client code path:
 *
 *   xplicit  — protocol v1 (docs/protocol.md): cookie + Origin on upgrade, hello, send → sent,
 *              events with per-member seq (gaps/duplicates also checked on seq), coalesced acks.
 *   floor    — bench/chat/relays/floor.ts, the same frames without seq/acks/auth.
 *   socketio — bench/chat/relays/socketio.mjs over the raw Engine.IO v4 / Socket.IO v5 wire
 *              format, so client-side cost is the same for all three systems.
 *
 * A delivery is a copy of a message arriving on a socket other than the one that sent it.
 * Lost = expected copies still missing `drainS` after the step's last send. Library API below;
 * `bun bench/chat/loadgen.ts --help` runs it against a stack that is already up.
 */
import { Samples, percentile } from "../lib/stats.ts";

const TIMELINE = process.env.BENCH_CHAT_TIMELINE === "1";

export type System = "xplicit" | "floor" | "socketio";

export interface LoadMember {
  id: string;
  /** `__Host-sid=…` for xplicit */
  cookie?: string;
}

export interface LoadConversation {
  id: string;
  members: number[];
}

export interface LoadgenOptions {
  system: System;
  /** WebSocket URLs; sockets are spread round-robin over them */
  urls: string[];
  members: LoadMember[];
  conversations: LoadConversation[];
  socketsPerMember?: number;
  origin?: string;
  /** Bun TLS options for wss:// (e.g. { rejectUnauthorized: false } or { ca }) */
  tls?: Record<string, unknown>;
  bodyChars?: number;
  connectConcurrency?: number;
}

export interface StepResult {
  system: System;
  rate: number;
  durationS: number;
  sent: number;
  acked: number;
  expected: number;
  delivered: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
  /** copies still missing at the end of the drain window (arrived later or never) */
  lateAtDrain?: number;
  duplicated: number;
  unacked: number;
  seqGaps: number;
  seqDuplicates: number;
  errors: number;
  closes: number;
  /** CPU seconds the generator itself used during the step */
  generatorCpuS: number;
}

interface Pending {
  sentAt: number;
  sender: Sock;
  remaining: number;
}

class Sock {
  ws!: WebSocket;
  ready = false;
  cursor = 0;
  acked = 0;
  seen = new Set<string>();
  conversation: LoadConversation | null = null;
  expectedCopies = 0;
  sioAck = 0;
  sioAcks = new Map<number, string>();
  constructor(readonly index: number, readonly member: number, readonly url: string) {}
}

export class LoadGenerator {
  readonly sockets: Sock[] = [];
  private pending = new Map<string, Pending>();
  private latency = new Samples();
  private stepStats = this.zero();
  private ackTimer: Timer | null = null;
  private body: string;
  private socketsByMember: Sock[][] = [];

  constructor(readonly o: LoadgenOptions) {
    this.body = "x".repeat(o.bodyChars ?? 40);
    const per = o.socketsPerMember ?? 1;
    const convOf = new Map<number, LoadConversation>();
    for (const c of o.conversations) for (const m of c.members) if (!convOf.has(m)) convOf.set(m, c);
    let n = 0;
    for (let d = 0; d < per; d++) {
      for (let m = 0; m < o.members.length; m++) {
        const s = new Sock(n, m, o.urls[n % o.urls.length]!);
        n++;
        s.conversation = convOf.get(m) ?? null;
        if (s.conversation) s.expectedCopies = s.conversation.members.length * per - 1;
        this.sockets.push(s);
        (this.socketsByMember[m] ??= []).push(s);
      }
    }
  }

  private zero() {
    return { sent: 0, acked: 0, expected: 0, delivered: 0, duplicated: 0, seqGaps: 0, seqDuplicates: 0, errors: 0, closes: 0 };
  }

  /** Opens every socket and completes the handshake. */
  async connect(): Promise<void> {
    let next = 0;
    const workers = Array.from({ length: this.o.connectConcurrency ?? 64 }, async () => {
      while (next < this.sockets.length) await this.open(this.sockets[next++]!);
    });
    await Promise.all(workers);
    if (this.o.system === "xplicit") {
      this.ackTimer = setInterval(() => {
        for (const s of this.sockets) {
          if (s.ready && s.cursor > s.acked) {
            s.ws.send(`{"type":"ack","seq":${s.cursor}}`);
            s.acked = s.cursor;
          }
        }
      }, 1000); // once a second, as docs/protocol.md asks of clients
    }
  }

  private open(s: Sock): Promise<void> {
    return new Promise((resolve, reject) => {
      const system = this.o.system;
      let url = s.url;
      const member = this.o.members[s.member]!;
      const init: Record<string, unknown> = {};
      if (this.o.tls) init.tls = this.o.tls;
      if (system === "xplicit") init.headers = { Origin: this.o.origin ?? "http://localhost:3000", Cookie: member.cookie ?? "" };
      if (system === "floor") url += `${url.includes("?") ? "&" : "?"}uid=${member.id}`;
      if (system === "socketio") url = `${url.replace(/\/+$/, "")}/socket.io/?EIO=4&transport=websocket`;
      const ws = new WebSocket(url, init as never);
      s.ws = ws;
      const timer = setTimeout(() => reject(new Error(`socket ${s.index}: handshake timed out (${url})`)), 30_000);
      const done = () => {
        clearTimeout(timer);
        s.ready = true;
        resolve();
      };
      ws.onopen = () => {
        if (system === "xplicit") ws.send(JSON.stringify({ type: "hello", clientId: `bench_${member.id}_${s.index}` }));
      };
      ws.onerror = () => {
        clearTimeout(timer);
        if (!s.ready) reject(new Error(`socket ${s.index}: connection refused (${url})`));
      };
      ws.onclose = () => {
        if (s.ready) this.stepStats.closes++;
        s.ready = false;
      };
      ws.onmessage = (e) => {
        const text = typeof e.data === "string" ? e.data : String(e.data);
        if (system === "socketio") this.onSocketIo(s, text, done, member.id);
        else this.onFrame(s, text, done);
      };
    });
  }

  private onFrame(s: Sock, text: string, done: () => void): void {
    const f = JSON.parse(text);
    switch (f.type) {
      case "event":
        if (this.o.system === "xplicit") {
          if (f.seq <= s.cursor) {
            this.stepStats.seqDuplicates++;
            return;
          }
          if (s.cursor > 0 && f.seq > s.cursor + 1) this.stepStats.seqGaps += f.seq - s.cursor - 1;
          s.cursor = f.seq;
        }
        if (f.kind === "message") this.delivered(s, f.data);
        return;
      case "sent":
        this.stepStats.acked++;
        return;
      case "welcome":
        s.cursor = f.cursor ?? 0;
        return;
      case "synced":
        if (!s.ready) done();
        return;
      case "error":
        this.stepStats.errors++;
        return;
    }
  }

  private onSocketIo(s: Sock, text: string, done: () => void, uid: string): void {
    const c = text.charCodeAt(0);
    if (c === 50 /* "2" ping */) {
      s.ws.send("3");
      return;
    }
    if (c === 48 /* "0" open */) {
      s.ws.send(`40${JSON.stringify({ uid })}`);
      return;
    }
    if (text.startsWith("40")) {
      done();
      return;
    }
    if (text.startsWith("42")) {
      const arr = JSON.parse(text.slice(2));
      if (arr[0] === "event" && arr[1]?.kind === "message") this.delivered(s, arr[1].data);
      return;
    }
    if (text.startsWith("43")) {
      const bracket = text.indexOf("[");
      const id = Number(text.slice(2, bracket));
      if (s.sioAcks.delete(id)) this.stepStats.acked++;
      const arr = JSON.parse(text.slice(bracket));
      if (arr[0]?.error) this.stepStats.errors++;
    }
  }

  private delivered(s: Sock, data: any): void {
    const key = data.clientMsgId as string;
    if (s.seen.has(key)) {
      this.stepStats.duplicated++;
      return;
    }
    s.seen.add(key);
    const p = this.pending.get(key);
    if (!p) return; // a late copy from a previous step (already counted as lost there)
    if (p.sender === s) return; // the sender's own echo
    p.remaining--;
    this.stepStats.delivered++;
    const latency = Date.now() - data.clientTs;
    this.latency.push(latency);
    if (TIMELINE) this.recordTimeline(data.clientTs, latency, p.sender, s);
    if (p.remaining === 0) this.pending.delete(key);
  }

  private sendFrom(s: Sock): void {
    const c = s.conversation!;
    const id = crypto.randomUUID();
    const now = Date.now();
    this.pending.set(id, { sentAt: now, sender: s, remaining: s.expectedCopies });
    this.stepStats.expected += s.expectedCopies;
    this.stepStats.sent++;
    if (this.o.system === "socketio") {
      const ackId = ++s.sioAck;
      s.sioAcks.set(ackId, id);
      s.ws.send(`42${ackId}["send",{"id":"${id}","conversationId":"${c.id}","body":"${this.body}","clientTs":${now}}]`);
    } else {
      s.ws.send(`{"type":"send","id":"${id}","conversationId":"${c.id}","body":"${this.body}","clientTs":${now}}`);
    }
  }

  /** BENCH_CHAT_TIMELINE=1: worst latency per 250 ms of send time, to tell stalls from a spread tail. */
  private timeline = new Map<number, { n: number; slow: number; max: number; paths: Map<string, number> }>();
  /** Slow copies are counted by path: sender's server → recipient's (socket index modulo the URLs). */
  private recordTimeline(clientTs: number, latency: number, from: Sock, to: Sock): void {
    const slot = Math.floor(clientTs / 250);
    const t = this.timeline.get(slot) ?? { n: 0, slow: 0, max: 0, paths: new Map() };
    t.n++;
    if (latency > 25) {
      t.slow++;
      const path = `${from.index % this.o.urls.length}>${to.index % this.o.urls.length}`;
      t.paths.set(path, (t.paths.get(path) ?? 0) + 1);
    }
    if (latency > t.max) t.max = latency;
    this.timeline.set(slot, t);
  }
  /** The generator's own event-loop lag per slot (by receive time; copies are slotted by send time, a few ms apart): a stall here delays every copy it receives. */
  private loopLag = new Map<number, number>();
  private watchLoopLag(seconds: number): void {
    let last = Date.now();
    const end = last + seconds * 1000;
    const timer = setInterval(() => {
      const now = Date.now();
      const slot = Math.floor(now / 250);
      this.loopLag.set(slot, Math.max(this.loopLag.get(slot) ?? 0, now - last));
      last = now;
      if (now > end) clearInterval(timer);
    }, 2);
  }

  private printTimeline(): void {
    const slots = [...this.timeline.keys()].sort((a, b) => a - b);
    const first = slots[0] ?? 0;
    const line = slots.map((k) => {
      const t = this.timeline.get(k)!;
      const paths = [...t.paths].sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p}:${n}`).join(" ");
      return `${((k - first) / 4).toFixed(2)}s:max ${t.max}${t.slow ? ` (${t.slow}>25 ${paths})` : ""} lag ${this.loopLag.get(k) ?? "?"}`;
    });
    console.error(`[timeline ${this.o.system}] ${line.join(" | ")}`);
    this.timeline.clear();
    this.loopLag.clear();
  }

  private current: { rate: number; durationS: number; start: number; sendEnd: number; cpu0: NodeJS.CpuUsage; lateAtDrain: number } | null = null;

  /**
   * Sends at `rate` messages/s for `durationS` and waits `drainS`; copies still missing then are
   * "late". Call `result()` afterwards — once the system under test is idle again — for the figures:
   * copies still missing then are lost, and late copies that did arrive count in the latency.
   */
  async step(rate: number, durationS: number, drainS = 2): Promise<StepResult> {
    await this.send(rate, durationS, drainS);
    return this.result();
  }

  async send(rate: number, durationS: number, drainS = 2): Promise<void> {
    if (TIMELINE) this.watchLoopLag(durationS + drainS);
    this.pending.clear();
    this.latency.reset();
    this.stepStats = this.zero();
    for (const s of this.sockets) s.seen.clear();
    for (const s of this.sockets) s.sioAcks.clear();
    const senders = this.sockets.filter((s) => s.conversation && s.ready);
    if (senders.length === 0) throw new Error("no socket can send");
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + durationS * 1000;
    let sent = 0;
    let rr = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        const due = Math.min(rate * durationS, Math.floor(((Math.min(now, end) - start) * rate) / 1000));
        while (sent < due) {
          const s = senders[rr++ % senders.length]!;
          if (s.ready) this.sendFrom(s);
          sent++;
        }
        if (now >= end) {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(tick, 2);
    });
    const sendEnd = performance.now();
    await Bun.sleep(drainS * 1000);
    let late = 0;
    for (const p of this.pending.values()) late += p.remaining;
    this.current = { rate, durationS, start, sendEnd, cpu0, lateAtDrain: late };
  }

  result(): StepResult & { lateAtDrain: number } {
    const c = this.current;
    if (!c) throw new Error("result() before send()");
    let lost = 0;
    for (const p of this.pending.values()) lost += p.remaining;
    const sorted = this.latency.sorted();
    if (TIMELINE) this.printTimeline();
    const cpu = process.cpuUsage(c.cpu0);
    const st = this.stepStats;
    return {
      system: this.o.system,
      rate: c.rate,
      durationS: c.durationS,
      sent: st.sent,
      acked: st.acked,
      expected: st.expected,
      delivered: st.delivered,
      // Delivered during the sending window and the drain, per second of sending.
      deliveredPerSec: (st.delivered - this.deliveredAfterDrain()) / ((c.sendEnd - c.start) / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN,
      lost,
      lateAtDrain: c.lateAtDrain,
      duplicated: st.duplicated + st.seqDuplicates,
      unacked: st.sent - st.acked,
      seqGaps: st.seqGaps,
      seqDuplicates: st.seqDuplicates,
      errors: st.errors,
      closes: st.closes,
      generatorCpuS: (cpu.user + cpu.system) / 1e6,
    };
  }

  private deliveredAfterDrain(): number {
    const c = this.current!;
    let missingAtDrain = c.lateAtDrain;
    let missingNow = 0;
    for (const p of this.pending.values()) missingNow += p.remaining;
    missingAtDrain -= missingNow;
    return Math.max(0, missingAtDrain);
  }

  close(): void {
    if (this.ackTimer) clearInterval(this.ackTimer);
    for (const s of this.sockets) {
      try {
        s.ws.close(1000);
      } catch {}
    }
  }
}

// ---- CLI: drive a stack that is already running ------------------------------------------------

async function registerMembers(api: string, origin: string, count: number, insecure: boolean): Promise<LoadMember[]> {
  const run = Date.now().toString(36);
  const out: LoadMember[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < count) {
        const i = next++;
        const handle = `lg${run}_${i}`;
        const res = await fetch(`${api}/api/auth/register`, {
          method: "POST",
          headers: { origin, "content-type": "application/json" },
          body: JSON.stringify({ email: `${handle}@loadgen.example`, handle, password: "loadgen-password-1", birthDate: "1990-01-01", acceptTerms: true }),
          tls: insecure ? { rejectUnauthorized: false } : undefined,
        } as never);
        const body = (await res.json()) as any;
        const sid = /__Host-sid=([^;]+)/.exec(res.headers.getSetCookie().join(";"))?.[1];
        if (res.status !== 201 || !sid) throw new Error(`register ${handle}: ${res.status} ${JSON.stringify(body)}`);
        out[i] = { id: String(body.user.id), cookie: `__Host-sid=${sid}`, handle } as LoadMember & { handle: string };
      }
    }),
  );
  return out;
}

async function pairConversations(api: string, origin: string, members: (LoadMember & { handle?: string })[], insecure: boolean): Promise<LoadConversation[]> {
  const out: LoadConversation[] = [];
  for (let i = 0; i + 1 < members.length; i += 2) {
    const res = await fetch(`${api}/api/conversations`, {
      method: "POST",
      headers: { origin, "content-type": "application/json", cookie: members[i]!.cookie! },
      body: JSON.stringify({ handles: [members[i + 1]!.handle] }),
      tls: insecure ? { rejectUnauthorized: false } : undefined,
    } as never);
    const body = (await res.json()) as any;
    out.push({ id: String(body.conversation.id), members: [i, i + 1] });
  }
  return out;
}

if (import.meta.main) {
  const args = new Map<string, string>();
  for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i]!;
    if (a.startsWith("--")) args.set(a.slice(2), process.argv[i + 1]?.startsWith("--") ? "1" : (process.argv[++i] ?? "1"));
  }
  if (args.has("help")) {
    console.log(`bun bench/chat/loadgen.ts [--api http://127.0.0.1:3000] [--ws ws://127.0.0.1:3101/ws,ws://127.0.0.1:3102/ws,ws://127.0.0.1:3103/ws]
  [--origin http://localhost:3000] [--members 200] [--rates 500,1000,2000] [--duration 10] [--drain 3] [--insecure]
Registers members through the api, pairs them into 1:1 conversations and sends at each rate.
Through nginx: --api https://localhost:8443 --ws wss://localhost:8443/ws --origin https://localhost:8443 --insecure`);
    process.exit(0);
  }
  const api = args.get("api") ?? "http://127.0.0.1:3000";
  const urls = (args.get("ws") ?? "ws://127.0.0.1:3101/ws,ws://127.0.0.1:3102/ws,ws://127.0.0.1:3103/ws").split(",");
  const origin = args.get("origin") ?? (api.startsWith("https") ? "https://localhost:8443" : "http://localhost:3000");
  const insecure = args.has("insecure");
  const members = await registerMembers(api, origin, Number(args.get("members") ?? 200), insecure);
  const conversations = await pairConversations(api, origin, members, insecure);
  const gen = new LoadGenerator({ system: "xplicit", urls, members, conversations, origin, tls: insecure ? { rejectUnauthorized: false } : undefined });
  await gen.connect();
  console.log(`connected ${gen.sockets.length} sockets over ${urls.length} endpoint(s)`);
  for (const rate of (args.get("rates") ?? "500,1000,2000").split(",").map(Number)) {
    const r = await gen.step(rate, Number(args.get("duration") ?? 10), Number(args.get("drain") ?? 3));
    console.log(JSON.stringify(r));
  }
  gen.close();
  process.exit(0);
}
