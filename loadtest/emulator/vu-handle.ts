/** The runner's handle on one VU (a Worker): start it, give it work, hear its samples and calls. */
import { answerHttp, type BatchLimits } from "./http-agent.ts";
import type { MetricStore, MetricType } from "./metrics.ts";
import { BRIDGE_BYTES, type FromVu, type IterationOrder, type TlsSettings, type ToVu } from "./protocol.ts";

export interface RunContext {
  script: string;
  env: Record<string, string>;
  store: MetricStore;
  /** metrics the script created (k6 refuses a threshold on a metric nobody defined) */
  declared: Map<string, MetricType>;
  tls: TlsSettings | null;
  batch: BatchLimits;
  onAbort(reason: string): void;
}

export interface Done {
  ok: boolean;
  error?: string;
  result?: unknown;
}

const WORKER = new URL("./vu/worker.ts", import.meta.url).href;

export class VuHandle {
  private readonly worker: Worker;
  private readonly signal = new SharedArrayBuffer(8);
  private readonly data = new SharedArrayBuffer(BRIDGE_BYTES);
  private waiting: ((d: Done) => void) | null = null;
  private ready: ((r: { options: unknown; exports: string[] } | { error: string }) => void) | null = null;
  busy = false;
  terminated = false;

  constructor(
    readonly id: number,
    private readonly ctx: RunContext,
  ) {
    this.worker = new Worker(WORKER);
    this.worker.onmessage = (e: MessageEvent<FromVu>) => this.heard(e.data);
    this.worker.onerror = (e) => this.settle({ ok: false, error: `VU ${id} crashed: ${e.message}` });
  }

  /** Imports the script in the VU: its options and exported functions, or why it failed. */
  start(): Promise<{ options: unknown; exports: string[] } | { error: string }> {
    return new Promise((resolve) => {
      this.ready = resolve;
      this.send({ kind: "init", script: this.ctx.script, env: this.ctx.env, vuId: this.id, tls: this.ctx.tls, signal: this.signal, data: this.data });
    });
  }

  iterate(order: IterationOrder): Promise<Done> {
    return this.run({ ...order });
  }

  call(fn: "setup" | "teardown", data: unknown): Promise<Done> {
    return this.run({ kind: "call", fn, data });
  }

  /** Ends the VU now (an iteration past its scenario's graceful stop is interrupted, as in k6). */
  terminate(): void {
    if (this.terminated) return;
    this.terminated = true;
    this.worker.terminate();
    this.settle({ ok: false, error: "interrupted" });
  }

  private run(order: ToVu): Promise<Done> {
    if (this.terminated) return Promise.resolve({ ok: false, error: "interrupted" });
    this.busy = true;
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.send(order);
    });
  }

  private send(msg: ToVu): void {
    this.worker.postMessage(msg);
  }

  private settle(d: Done): void {
    this.busy = false;
    const w = this.waiting;
    this.waiting = null;
    w?.(d);
    const r = this.ready;
    this.ready = null;
    if (r) r({ error: d.error ?? "the VU stopped" });
  }

  private heard(msg: FromVu): void {
    switch (msg.kind) {
      case "ready": {
        const r = this.ready;
        this.ready = null;
        r?.({ options: msg.options, exports: msg.exports });
        return;
      }
      case "init-failed": {
        const r = this.ready;
        this.ready = null;
        r?.({ error: msg.error });
        return;
      }
      case "metric":
        this.ctx.declared.set(msg.name, msg.type);
        return;
      case "samples":
        for (const s of msg.samples) this.ctx.store.add(s);
        return;
      case "http":
        void answerHttp(msg.requests, this.ctx.tls, this.ctx.batch, this.ctx.store, new Int32Array(this.signal), new Uint8Array(this.data));
        return;
      case "abort":
        this.ctx.onAbort(msg.reason);
        return;
      case "done":
        this.settle({ ok: msg.ok, ...(msg.error ? { error: msg.error } : {}), ...(msg.result !== undefined ? { result: msg.result } : {}) });
        return;
    }
  }
}
