/**
 * JSON-lines logging: one line per event, one logger per module, level per module.
 * Keys that can carry secrets are redacted wherever they appear in the fields.
 */
import type { LogLevel } from "../config/index.ts";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SECRET_KEY = /pass(word)?|cookie|token|secret|authorization|sid$|^body$/i;

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Security-relevant event (auth, admin): always written, whatever the level. */
  audit(action: string, fields?: Fields): void;
  child(module: string): Logger;
}

interface LogSettings {
  level: LogLevel;
  levels: Record<string, LogLevel>;
  service: string;
  write: (line: string) => void;
}

// Until a service calls configureLogging with its parsed config (and in test processes, which never
// do), the level follows the same variables the config reads, so nothing logs louder than asked.
const settings: LogSettings = {
  level: (process.env.LOG_LEVEL as LogLevel) || (process.env.NODE_ENV === "test" ? "warn" : "info"),
  levels: {},
  service: "xplicit",
  write: (line) => process.stdout.write(line + "\n"),
};

export function configureLogging(opts: Partial<LogSettings>): void {
  Object.assign(settings, opts);
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Fields = {};
  for (const [k, v] of Object.entries(value as Fields)) {
    out[k] = SECRET_KEY.test(k) ? "[redacted]" : redact(v, depth + 1);
  }
  return out;
}

function emit(module: string, level: LogLevel | "audit", msg: string, fields?: Fields): void {
  const threshold = settings.levels[module] ?? settings.level;
  // Audit lines ignore the level (only "silent" mutes them, for test runs).
  if (level === "audit" ? threshold === "silent" : ORDER[level] < ORDER[threshold]) return;
  const line = {
    ts: new Date().toISOString(),
    level,
    service: settings.service,
    module,
    msg,
    ...(fields ? (redact(fields) as Fields) : {}),
  };
  settings.write(JSON.stringify(line));
}

export function createLogger(module: string): Logger {
  return {
    debug: (msg, f) => emit(module, "debug", msg, f),
    info: (msg, f) => emit(module, "info", msg, f),
    warn: (msg, f) => emit(module, "warn", msg, f),
    error: (msg, f) => emit(module, "error", msg, f),
    audit: (action, f) => emit(module, "audit", action, f),
    child: (sub) => createLogger(`${module}.${sub}`),
  };
}
