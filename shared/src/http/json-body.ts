import type { Context } from "hono";
import { badRequest, bodyTooLarge } from "../errors/index.ts";

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Parse a JSON object body; bytes that are not UTF-8, bad JSON or a non-object are a 400, a body
 * over `maxBytes` a 413, never a crash.
 */
export async function readJsonObject(c: Context, maxBytes = 64 * 1024): Promise<Record<string, unknown>> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw bodyTooLarge(`body exceeds ${maxBytes} bytes`);
  let text: string;
  try {
    // fatal: bytes that are not UTF-8 are refused, not stored as U+FFFD (silently changed)
    text = UTF8.decode(bytes);
  } catch {
    throw badRequest("bad_encoding", "body is not valid UTF-8");
  }
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest("bad_json", "body is not valid JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw badRequest("bad_json", "body must be a JSON object");
  }
  return value as Record<string, unknown>;
}
