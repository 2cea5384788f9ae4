/** Request shapes of the notification endpoints. */
import { badRequest } from "@xplicit/shared/errors";
import { isCanonicalId } from "@xplicit/shared/http";
import { isNotificationType, type NotificationType } from "@xplicit/shared/modules/notifications";

const MAX_IDS = 500;

export type ReadTarget = { ids: string[] } | { upTo: string } | { upToSeq: string } | { type: NotificationType; subjectId: string };

export function parseReadTarget(body: Record<string, unknown>): ReadTarget {
  const { ids, upTo, upToSeq, type, subjectId } = body;
  const given = [ids, upTo, upToSeq, subjectId].filter((v) => v !== undefined).length;
  if (given > 1) throw badRequest("invalid", "send one of ids, upTo, upToSeq, or type with subjectId");
  if (upToSeq !== undefined) {
    const v = typeof upToSeq === "number" ? String(upToSeq) : upToSeq;
    if (typeof v !== "string" || !isCanonicalId(v)) throw badRequest("invalid", "upToSeq must be a notification's seq");
    return { upToSeq: v };
  }
  if (subjectId !== undefined || type !== undefined) {
    const subject = typeof subjectId === "number" ? String(subjectId) : subjectId;
    if (!isNotificationType(type) || typeof subject !== "string" || !isCanonicalId(subject)) {
      throw badRequest("invalid", "type must be a notification type and subjectId an id (e.g. the conversation of message notifications)");
    }
    return { type, subjectId: subject };
  }
  if (upTo !== undefined) {
    const v = typeof upTo === "number" ? String(upTo) : upTo;
    if (typeof v !== "string" || !isCanonicalId(v)) throw badRequest("invalid", "upTo must be a notification id");
    return { upTo: v };
  }
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS) {
    throw badRequest("invalid", `send ids (1 to ${MAX_IDS} notification ids) or upTo`);
  }
  const out = ids.map((id) => (typeof id === "number" ? String(id) : id));
  if (!out.every((id): id is string => typeof id === "string" && isCanonicalId(id))) throw badRequest("invalid", "ids must be notification ids");
  return { ids: [...new Set(out)] };
}

export function parseTypeFilter(raw: string | undefined): NotificationType | null {
  if (raw === undefined || raw === "") return null;
  if (!isNotificationType(raw)) throw badRequest("invalid_type", "unknown notification type");
  return raw;
}

export function parseMuted(body: Record<string, unknown>): NotificationType[] {
  const { muted } = body;
  if (!Array.isArray(muted) || !muted.every(isNotificationType)) {
    throw badRequest("invalid", "muted must be a list of notification types");
  }
  return [...new Set(muted)];
}
