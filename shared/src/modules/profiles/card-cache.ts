/**
 * Member cards (id, handle, display name) kept in this process for a few seconds. A notification
 * list names the same few actors on every read; asking Postgres for them each time was one of
 * its two queries. A changed display name shows everywhere within CARD_TTL_MS (at once in the
 * process that changed it).
 */
import type { Sql } from "../../db/index.ts";
import { getMemberCards, type MemberCard } from "./index.ts";

const CARD_TTL_MS = 10_000;
const MAX_CARDS = 50_000;

const cache = new Map<string, { card: MemberCard; at: number }>();

/** Like `getMemberCards`, answering from the cache what it can and asking Postgres for the rest. */
export async function getMemberCardsCached(sql: Sql, ids: readonly string[]): Promise<Map<string, MemberCard>> {
  const now = Date.now();
  const out = new Map<string, MemberCard>();
  const missing: string[] = [];
  for (const id of new Set(ids)) {
    const hit = cache.get(id);
    if (hit && now - hit.at < CARD_TTL_MS) out.set(id, hit.card);
    else missing.push(id);
  }
  if (missing.length === 0) return out;
  const fetched = await getMemberCards(sql, missing);
  if (cache.size + fetched.size > MAX_CARDS) cache.clear();
  for (const [id, card] of fetched) {
    cache.set(id, { card, at: now });
    out.set(id, card);
  }
  return out;
}

/** The member changed their card here: later reads in this process see it at once. */
export function forgetMemberCard(id: string): void {
  cache.delete(id);
}
