export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly variable: string, detail: string) {
    super(`configuration variable ${variable}: ${detail}`);
    this.name = "ConfigError";
  }
}

function present(raw: string | undefined): raw is string {
  return raw !== undefined && raw.trim() !== "";
}

export function str(name: string, raw: string | undefined, fallback?: string): string {
  if (present(raw)) return raw.trim();
  if (fallback === undefined) throw new ConfigError(name, "is required");
  return fallback;
}

export function int(name: string, raw: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!present(raw)) return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected ${min}..${max}, got ${value}`);
  return value;
}

export function bool(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (!present(raw)) return fallback;
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

export function list(name: string, raw: string | undefined, fallback: string[]): string[] {
  if (!present(raw)) return fallback;
  const items = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new ConfigError(name, "expected a comma-separated list");
  return items;
}

export function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (!present(raw)) return fallback;
  const v = raw.trim() as T;
  if (!allowed.includes(v)) throw new ConfigError(name, `expected one of ${allowed.join("|")}, got "${raw}"`);
  return v;
}
