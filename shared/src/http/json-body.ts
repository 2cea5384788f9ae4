import type { Context } from "hono";
import { badRequest, bodyTooLarge } from "../errors/index.ts";

/** Parse a JSON object body; bad JSON or a non-object is a 400, a body over `maxBytes` a 413, never a crash. */
export async function readJsonObject(c: Context, maxBytes = 64 * 1024): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.length > maxBytes || Buffer.byteLength(text) > maxBytes) throw bodyTooLarge(`body exceeds ${maxBytes} bytes`);
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
