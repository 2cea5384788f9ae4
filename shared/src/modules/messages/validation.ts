import { badRequest } from "../../errors/index.ts";
import { MAX_MARKS_IN_A_ROW, hasBidiOverrides, hasControlCharacters, hasStackedMarks, hasVisibleText, isCanonicalId, isStorableText } from "../../http/text.ts";
import type { SendInput } from "./types.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids travel as strings (bigint); a plain integer is accepted too. */
function idString(raw: unknown): string | null {
  if (typeof raw === "number" && Number.isSafeInteger(raw) && raw > 0) return String(raw);
  return typeof raw === "string" && isCanonicalId(raw) ? raw : null;
}

export function parseSendInput(raw: Record<string, unknown>, maxBodyChars: number): SendInput {
  if (typeof raw.id !== "string" || !UUID.test(raw.id)) throw badRequest("invalid", "id must be a UUID");
  const conversationId = idString(raw.conversationId);
  if (!conversationId) throw badRequest("invalid", "conversationId must be a conversation id");
  if (typeof raw.body !== "string" || raw.body.trim() === "") throw badRequest("invalid", "body must be a non-empty string");
  if (raw.body.length > maxBodyChars) throw badRequest("invalid", `body exceeds ${maxBodyChars} characters`);
  // A NUL would fail the whole group-committed INSERT, i.e. other members' messages too.
  if (!isStorableText(raw.body)) throw badRequest("invalid", "body must not contain NUL or broken Unicode");
  if (hasControlCharacters(raw.body)) throw badRequest("invalid", "body must not contain control characters (other than tab and line breaks)");
  if (!hasVisibleText(raw.body)) throw badRequest("invalid", "body must show at least one character (not only spaces or invisible characters)");
  if (hasBidiOverrides(raw.body)) throw badRequest("invalid", "body must not contain right-to-left or left-to-right overrides (U+202D, U+202E)");
  if (hasStackedMarks(raw.body)) throw badRequest("invalid", `body must not pile up more than ${MAX_MARKS_IN_A_ROW} accent marks in a row`);
  const input: SendInput = { id: raw.id.toLowerCase(), conversationId, body: raw.body };
  if (raw.clientTs !== undefined) {
    if (typeof raw.clientTs !== "number" || !Number.isFinite(raw.clientTs)) throw badRequest("invalid", "clientTs must be a number");
    input.clientTs = raw.clientTs;
  }
  return input;
}

export function parseId(raw: unknown, field: string): string {
  const id = idString(raw);
  if (!id) throw badRequest("invalid", `${field} must be an id`);
  return id;
}
