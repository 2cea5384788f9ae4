/**
 * k6's cookie jars (Go's net/http/cookiejar rules, as far as the scripts meet them): a cookie is
 * sent to its host (or domain) and path, a `Secure` one only over https, an expired one never.
 */
export interface StoredCookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  expiresAt: number | null;
}

export interface ParsedSetCookie {
  name: string;
  value: string;
  domain: string;
  path: string;
  http_only: boolean;
  secure: boolean;
  max_age: number;
  expires: number;
}

export function parseSetCookie(header: string): ParsedSetCookie | null {
  const [pair, ...attrs] = header.split(";");
  const eq = pair?.indexOf("=") ?? -1;
  if (!pair || eq <= 0) return null;
  const out: ParsedSetCookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), domain: "", path: "", http_only: false, secure: false, max_age: 0, expires: 0 };
  for (const attr of attrs) {
    const [k, ...rest] = attr.split("=");
    const key = (k ?? "").trim().toLowerCase();
    const v = rest.join("=").trim();
    if (key === "domain") out.domain = v.replace(/^\./, "").toLowerCase();
    else if (key === "path") out.path = v;
    else if (key === "httponly") out.http_only = true;
    else if (key === "secure") out.secure = true;
    // as Go reads it: Max-Age of zero or less deletes the cookie (-1); no attribute is 0
    else if (key === "max-age") out.max_age = Number(v) > 0 ? Number(v) : -1;
    else if (key === "expires") out.expires = Date.parse(v) || 0;
  }
  return out;
}

function defaultPath(url: URL): string {
  const p = url.pathname;
  const slash = p.lastIndexOf("/");
  return slash <= 0 ? "/" : p.slice(0, slash);
}

export class CookieJar {
  private cookies: StoredCookie[] = [];

  /** k6 starts every iteration with an empty VU jar. */
  reset(): void {
    this.cookies = [];
  }

  /** Stores what a response to `url` set. */
  storeFrom(url: string, parsed: ParsedSetCookie): void {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    let expiresAt: number | null = null;
    if (parsed.max_age < 0) expiresAt = 0;
    else if (parsed.max_age > 0) expiresAt = Date.now() + parsed.max_age * 1000;
    else if (parsed.expires) expiresAt = parsed.expires;
    const c: StoredCookie = {
      name: parsed.name,
      value: parsed.value,
      domain: parsed.domain || host,
      hostOnly: !parsed.domain,
      path: parsed.path || defaultPath(u),
      secure: parsed.secure,
      httpOnly: parsed.http_only,
      expiresAt,
    };
    this.cookies = this.cookies.filter((x) => !(x.name === c.name && x.domain === c.domain && x.path === c.path));
    if (c.expiresAt === null || c.expiresAt > Date.now()) this.cookies.push(c);
  }

  /** k6's jar.set(url, name, value, options) */
  set(url: string, name: string, value: string, opts: { domain?: string; path?: string; secure?: boolean; http_only?: boolean; max_age?: number } = {}): void {
    this.storeFrom(url, { name, value, domain: opts.domain ?? "", path: opts.path ?? "/", secure: opts.secure ?? false, http_only: opts.http_only ?? false, max_age: opts.max_age ?? 0, expires: 0 });
  }

  /** The cookies a request to `url` carries. */
  matching(url: string): StoredCookie[] {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    const https = u.protocol === "https:" || u.protocol === "wss:";
    const now = Date.now();
    return this.cookies.filter(
      (c) =>
        (c.expiresAt === null || c.expiresAt > now) &&
        (!c.secure || https) &&
        (c.hostOnly ? host === c.domain : host === c.domain || host.endsWith(`.${c.domain}`)) &&
        (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`) || c.path === "/"),
    );
  }

  /** k6's jar.cookiesForURL(url): name → values */
  cookiesForURL(url: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const c of this.matching(url)) (out[c.name] ??= []).push(c.value);
    return out;
  }

  clear(url: string): void {
    const gone = new Set(this.matching(url));
    this.cookies = this.cookies.filter((c) => !gone.has(c));
  }

  delete(url: string, name: string): void {
    const gone = new Set(this.matching(url).filter((c) => c.name === name));
    this.cookies = this.cookies.filter((c) => !gone.has(c));
  }
}

export type CookieParam = string | { value: string; replace?: boolean };

/**
 * The Cookie header of a request, as k6 writes it: the request's own cookies, then the jar's for the
 * URL (`replace: true` keeps the jar's cookie of that name out; otherwise both are sent).
 */
export function cookieHeader(jar: CookieJar | null, url: string, own: Record<string, CookieParam> = {}): string {
  const pairs: Array<[string, string]> = [];
  const replaced = new Set<string>();
  for (const [name, p] of Object.entries(own)) {
    pairs.push([name, typeof p === "string" ? p : p.value]);
    if (typeof p !== "string" && p.replace === true) replaced.add(name);
  }
  for (const c of jar ? jar.matching(url) : []) if (!replaced.has(c.name)) pairs.push([c.name, c.value]);
  return pairs.map(([n, v]) => `${n}=${v}`).join("; ");
}
