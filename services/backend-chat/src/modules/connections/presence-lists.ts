/**
 * Who may see a member's online state and who they may see (shared/src/modules/messages/partners.ts),
 * cached per member for a short while: read on every presence change, typing frame and presence
 * query. A block, an unblock, a first message in a conversation or a member leaving a group is
 * announced, and the lists of everyone it names are dropped (`forget`).
 */
import type { Sql } from "@xplicit/shared/db";
import {
  presenceAudience, presenceAudienceAmong, visiblePresences, visiblePresencesAmong, type PartnerList,
} from "@xplicit/shared/modules/messages";

/** (on the monotonic clock: a wall clock stepped back would keep lists for as long as the step) */
const CACHE_MS = 30_000;
const MAX_ENTRIES = 50_000;

interface Kind {
  list(sql: Sql, userId: string): Promise<PartnerList>;
  among(sql: Sql, userId: string, candidates: readonly string[]): Promise<string[]>;
  cache: Map<string, { at: number; list: PartnerList }>;
}

export class PresenceLists {
  private readonly audience: Kind = { list: presenceAudience, among: presenceAudienceAmong, cache: new Map() };
  private readonly visible: Kind = { list: visiblePresences, among: visiblePresencesAmong, cache: new Map() };
  /** counts forgets: a list loaded across one is used once, not kept (it may predate the change) */
  private changes = 0;

  constructor(private readonly sql: Sql) {}

  /** Who is told of `userId`'s presence changes. */
  async audienceOf(userId: string): Promise<string[]> {
    return (await this.listOf(this.audience, userId)).ids;
  }

  /** Which of `candidates` may see `userId` online (or typing). */
  audienceAmong(userId: string, candidates: readonly string[]): Promise<string[]> {
    return this.among(this.audience, userId, candidates);
  }

  /** Which of `candidates` `userId` may see online. */
  visibleAmong(userId: string, candidates: readonly string[]): Promise<string[]> {
    return this.among(this.visible, userId, candidates);
  }

  forget(userIds: readonly string[]): void {
    this.changes++;
    for (const id of userIds) {
      this.audience.cache.delete(id);
      this.visible.cache.delete(id);
    }
  }

  /** Forgets every list: announcements may have been missed (pub/sub was stale). */
  clear(): void {
    this.changes++;
    this.audience.cache.clear();
    this.visible.cache.clear();
  }

  /** Drops expired entries, so idle members do not keep their lists in memory. */
  sweep(): void {
    const now = performance.now();
    for (const kind of [this.audience, this.visible]) {
      for (const [k, v] of kind.cache) if (now - v.at >= CACHE_MS) kind.cache.delete(k);
    }
  }

  private async listOf(kind: Kind, userId: string): Promise<PartnerList> {
    const hit = kind.cache.get(userId);
    if (hit && performance.now() - hit.at < CACHE_MS) return hit.list;
    const changesBefore = this.changes;
    const list = await kind.list(this.sql, userId);
    if (this.changes !== changesBefore) return list;
    if (kind.cache.size >= MAX_ENTRIES) kind.cache.clear();
    kind.cache.set(userId, { at: performance.now(), list });
    return list;
  }

  /** From the cached list; for a member with more than it holds, the ones it does not name are asked of Postgres. */
  private async among(kind: Kind, userId: string, candidates: readonly string[]): Promise<string[]> {
    const list = await this.listOf(kind, userId);
    const listed = new Set(list.ids);
    const known = candidates.filter((id) => listed.has(id));
    if (list.complete || known.length === candidates.length) return known;
    const rest = candidates.filter((id) => !listed.has(id));
    return [...known, ...(await kind.among(this.sql, userId, rest))];
  }
}
