import type { Context } from "hono";
import { getConnInfo } from "hono/bun";

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

/** mTLS result, as set by nginx. Believed only from a trusted proxy. */
export function clientCertificate(c: Context, trusted: readonly string[]): ClientCertificate {
  if (!isTrustedProxy(peerAddress(c), trusted)) return { verified: false, dn: "", fingerprint: "" };
  return {
    verified: c.req.header("x-client-verify") === "SUCCESS",
    dn: c.req.header("x-client-dn") ?? "",
    fingerprint: c.req.header("x-client-fingerprint") ?? "",
  };
}
