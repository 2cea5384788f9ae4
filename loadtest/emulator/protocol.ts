/**
 * Messages between the runner (main thread) and a VU (a Bun Worker: one JS realm per VU, as each
 * k6 VU has its own). k6's HTTP calls block the VU; a Worker cannot block on its own fetch, so
 * it asks the runner to make the request and waits on a shared buffer (Atomics.wait) for the
 * answer, as k6's VU waits for its Go HTTP client.
 */
import type { Sample, Tags } from "./metrics.ts";

export interface HttpRequestSpec {
  method: string;
  url: string;
  body: string | null;
  headers: Record<string, string>;
  timeoutMs: number;
  redirects: number;
  /** k6 tags of the request's metrics (name, group, scenario, the script's own) */
  tags: Tags;
  /** statuses counted as expected by http_req_failed: ranges and single codes */
  expected: Array<number | { min: number; max: number }> | null;
}

export interface HttpResponseData {
  status: number;
  statusText: string;
  url: string;
  body: string;
  /** [name, value] as received, repeated names kept */
  headers: Array<[string, string]>;
  durationMs: number;
  waitingMs: number;
  error: string;
  errorCode: number;
}

export interface TlsSettings {
  insecureSkipTLSVerify: boolean;
  /** PEM: SSL_CERT_FILE's contents, the CA k6's Go TLS stack trusts on Linux */
  ca: string | null;
  clientCert: { cert: string; key: string } | null;
}

export interface VuInit {
  kind: "init";
  script: string;
  env: Record<string, string>;
  vuId: number;
  tls: TlsSettings | null;
  /** the shared buffers of the blocking bridge */
  signal: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

export interface IterationOrder {
  kind: "iterate";
  scenario: string;
  executor: string;
  exec: string;
  scenarioStartTime: number;
  iterationInTest: number;
  iterationInScenarioForVu: number;
  data: unknown;
}

export interface CallOrder {
  kind: "call";
  /** setup or teardown */
  fn: "setup" | "teardown";
  data: unknown;
}

export type ToVu = VuInit | IterationOrder | CallOrder;

export type FromVu =
  | { kind: "ready"; options: unknown; exports: string[] }
  | { kind: "init-failed"; error: string }
  | { kind: "samples"; samples: Sample[] }
  | { kind: "metric"; name: string; type: Sample["type"]; isTime: boolean }
  | { kind: "http"; requests: HttpRequestSpec[] }
  | { kind: "done"; ok: boolean; error?: string; result?: unknown }
  | { kind: "abort"; reason: string };

/** The bridge's buffer: 16 MiB for one blocking call's answer (the JSON of the responses). */
export const BRIDGE_BYTES = 16 * 1024 * 1024;
