/**
 * How many sockets one replica holds. Each costs a file descriptor, and a replica out of them can
 * no longer reach Postgres or Redis, answer /readyz, or even refuse a client properly: it must stop
 * taking sockets while it still has descriptors for everything else. Past the cap an upgrade is
 * refused with 503 `replica_full`, which nginx takes to the next replica.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "@xplicit/shared/config";

/** Descriptors kept for everything but sockets: Postgres and Redis connections, HTTP requests, files. */
export const DESCRIPTOR_RESERVE = 512;

/** The process' soft limit on open files (`ulimit -n`), or null when unlimited or unknown. */
export function openFileLimit(limits = readLimits()): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  return m && m[1] !== "unlimited" ? Number(m[1]) : null;
}

function readLimits(): string {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return "";
  }
}

/**
 * The cap: CHAT_MAX_SOCKETS when set, else all the descriptors the reserve leaves. A setting the
 * descriptors cannot carry stops the replica at start, naming the variable, rather than failing
 * under load.
 */
export function socketCapFor(configured: number | null, fileLimit: number | null): number {
  const room = fileLimit === null ? null : Math.max(1, fileLimit - DESCRIPTOR_RESERVE);
  if (configured === null) return room ?? Number.MAX_SAFE_INTEGER;
  if (room !== null && configured > room) {
    throw new ConfigError(
      "CHAT_MAX_SOCKETS",
      `${configured} sockets need more file descriptors than this process may open (ulimit -n ${fileLimit}, ${DESCRIPTOR_RESERVE} kept for other connections): at most ${room}, or raise the limit`,
    );
  }
  return configured;
}
