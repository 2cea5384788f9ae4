import type { Context } from "hono";
import { getConnInfo } from "hono/bun";
import { forbidden, type AppError } from "../errors/index.ts";

/** The TCP peer, or the client nginx reports when the peer is a trusted proxy. */
export function peerAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "";
  } catch {
    return "";
  }
}

export function isTrustedProxy(address: string, trusted: readonly string[]): boolean {
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  return trusted.includes(plain) || trusted.includes(address) || trusted.includes("*");
}

export function clientIp(c: Context, trusted: readonly string[]): string {
  const peer = peerAddress(c);
  if (isTrustedProxy(peer, trusted)) {
    const real = c.req.header("x-real-ip");
    if (real) return real.trim().slice(0, 64);
  }
  return peer || "unknown";
}

export interface ClientCertificate {
  verified: boolean;
  dn: string;
  fingerprint: string;
}

/** The refusal of an operator path to a request without a verified client certificate. */
export function clientCertificateRequired(): AppError {
  return forbidden("client_certificate_required", "this path needs a verified operator client certificate");
}

/** mTLS result, as set by nginx. Believed only from a trusted proxy. */
export function clientCertificate(c: Context, trusted: readonly string[]): ClientCertificate {
  if (!isTrustedProxy(peerAddress(c), trusted)) return { verified: false, dn: "", fingerprint: "" };
  return {
    verified: c.req.header("x-client-verify") === "SUCCESS",
    dn: c.req.header("x-client-dn") ?? "",
    fingerprint: c.req.header("x-client-fingerprint") ?? "",
  };
}

/**
 * The unit a per-address budget counts: an IPv4 address, or an IPv6 address's /64 — one
 * subscriber usually holds a whole /64, so counting each address apart would give them 2^64
 * budgets. Anything that does not parse is its own unit.
 */
export function addressBudgetKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  const v4Mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (v4Mapped) return v4Mapped[1]!;
  const [head = "", tail] = ip.toLowerCase().split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return ip;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
