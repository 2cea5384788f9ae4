import { badRequest } from "../errors/index.ts";

export interface Page {
  cursor: string | null;
  limit: number;
}

/** `cursor` is the opaque id of the last item seen; `limit` 1..100 (default 20). */
export function parsePage(cursor: string | undefined, limit: string | undefined, max = 100, fallback = 20): Page {
  if (cursor !== undefined && cursor !== "" && !/^\d{1,18}$/.test(cursor)) throw badRequest("invalid_cursor", "cursor is not valid");
  let n = fallback;
  if (limit !== undefined && limit !== "") {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > max) {
      throw badRequest("invalid_limit", `limit must be 1 to ${max}`);
    }
    n = Number(limit);
  }
  return { cursor: cursor ? cursor : null, limit: n };
}
