/**
 * `k6/websockets`: k6's browser-like WebSocket over Bun's client. An open or connecting socket is
 * pending work of the VU's event loop, so the iteration lasts until it is closed. k6 sends no
 * permessage-deflate offer unless asked; neither does this. Every event carries `timestamp`, as
 * k6's do: milliseconds since the epoch, with a fraction. k6 stamps a message when its read
 * goroutine takes the frame off the socket, before the VU's event loop runs the handler; here it is
 * stamped when Bun hands the frame to this VU's thread, just before the handler runs.
 */
import type { CookieJar } from "./cookies.ts";
import { cookieHeader } from "./cookies.ts";
import { cookieJar } from "./http.ts";
import { addSample, holdLoop, onIterationStop, releaseLoop, runCallback, vu } from "./runtime.ts";

type Listener = (ev: Record<string, unknown>) => void;

interface Params {
  headers?: Record<string, string>;
  jar?: CookieJar | null;
  tags?: Record<string, string>;
  compression?: string;
}

export const ReadyState = { Connecting: 0, Open: 1, Closing: 2, Closed: 3 } as const;

/** k6's event time: a DOMHighResTimeStamp-like double of milliseconds since the Unix epoch. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

const open = new Set<WebSocket>();
onIterationStop(() => {
  for (const ws of [...open]) ws.abandon();
});

export class WebSocket {
  onopen: Listener | null = null;
  onmessage: Listener | null = null;
  onerror: Listener | null = null;
  onclose: Listener | null = null;
  onping: Listener | null = null;
  onpong: Listener | null = null;
  readonly url: string;
  private readonly socket: globalThis.WebSocket;
  private readonly listeners = new Map<string, Listener[]>();
  private readonly tags: Record<string, string>;
  private held = true;
  private readonly startedAt = Date.now();

  constructor(url: string, protocols: string | string[] | null = null, params: Params = {}) {
    this.url = url;
    this.tags = { url, ...(params.tags ?? {}) };
    const headers: Record<string, string> = { ...(params.headers ?? {}) };
    // gorilla/websocket (k6's dialer) sends an explicit Cookie header instead of the jar's cookies
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "cookie")) {
      const fromJar = cookieHeader(params.jar === undefined ? cookieJar() : params.jar, url);
      if (fromJar) headers.Cookie = fromJar;
    }
    const tls = vu.tls;
    holdLoop();
    open.add(this);
    addSample("ws_sessions", "counter", false, 1, this.tags);
    this.socket = new globalThis.WebSocket(url, {
      headers,
      ...(protocols ? { protocols: Array.isArray(protocols) ? protocols : [protocols] } : {}),
      perMessageDeflate: params.compression === "deflate",
      ...(url.startsWith("wss:") && tls
        ? { tls: { rejectUnauthorized: !tls.insecureSkipTLSVerify, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.clientCert ?? {}) } }
        : {}),
    } as never);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => {
      addSample("ws_connecting", "trend", true, Date.now() - this.startedAt, this.tags);
      this.emit("open", { type: "open", timestamp: now() });
    };
    this.socket.onmessage = (e) => {
      const timestamp = now();
      addSample("ws_msgs_received", "counter", false, 1, this.tags);
      this.emit("message", { type: "message", data: e.data, origin: url, timestamp });
    };
    this.socket.onerror = (e) => this.emit("error", { type: "error", error: (e as ErrorEvent).message ?? "websocket error", timestamp: now() });
    this.socket.onclose = (e) => {
      addSample("ws_session_duration", "trend", true, Date.now() - this.startedAt, this.tags);
      this.emit("close", { type: "close", code: e.code, reason: e.reason, timestamp: now() });
      this.release();
    };
  }

  get readyState(): number {
    return this.socket.readyState;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  send(data: string | ArrayBuffer): void {
    if (this.socket.readyState !== ReadyState.Open) throw new Error("InvalidStateError: the WebSocket is not open");
    addSample("ws_msgs_sent", "counter", false, 1, this.tags);
    this.socket.send(data);
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code ?? 1000, reason ?? "");
  }

  ping(): void {
    (this.socket as unknown as { ping?: () => void }).ping?.();
  }

  addEventListener(type: string, listener: Listener): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener);
    this.listeners.set(type, list);
  }

  private emit(type: string, ev: Record<string, unknown>): void {
    const handler = (this as unknown as Record<string, Listener | null>)[`on${type}`];
    if (handler) runCallback(() => handler.call(this, ev));
    for (const l of this.listeners.get(type) ?? []) runCallback(() => l.call(this, ev));
  }

  /** The iteration ended on an error: the socket closes and no longer holds the event loop. */
  abandon(): void {
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    this.listeners.clear();
    this.socket.close(1000, "");
    this.release();
  }

  private release(): void {
    if (!this.held) return;
    this.held = false;
    open.delete(this);
    releaseLoop();
  }
}

export default { WebSocket, ReadyState };
