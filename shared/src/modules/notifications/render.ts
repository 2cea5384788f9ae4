/** Rows → what clients see, with one batched lookup for actors and one for broadcasts. */
import type { Sql } from "../../db/index.ts";
import { getMemberCardsCached, type MemberCard } from "../profiles/index.ts";
import type { ActorView, NotificationRow, NotificationView } from "./types.ts";

export type BroadcastText = { title: string; body: string };

export async function broadcastTexts(sql: Sql, ids: readonly string[]): Promise<Map<string, BroadcastText>> {
  const unique = [...new Set(ids)];
  const out = new Map<string, BroadcastText>();
  if (unique.length === 0) return out;
  const rows = await sql<{ id: string; title: string; body: string }[]>`
    select id, title, body from broadcasts where id = any(${unique}::bigint[])`;
  for (const r of rows) out.set(r.id, { title: r.title, body: r.body });
  return out;
}

export interface RenderContext {
  cards: ReadonlyMap<string, MemberCard>;
  broadcasts: ReadonlyMap<string, BroadcastText>;
}

/** The actors' cards and the broadcasts' texts the rows name; `knownBroadcasts` skips that query. */
export async function loadRenderContext(sql: Sql, rows: readonly NotificationRow[], knownBroadcasts?: ReadonlyMap<string, BroadcastText>): Promise<RenderContext> {
  const actorIds = rows.flatMap((r) => [...(r.actorIds ?? []), ...(r.actorId ? [r.actorId] : [])]);
  const broadcastIds = rows.filter((r) => r.type === "broadcast" && r.subjectId).map((r) => r.subjectId!);
  const [cards, broadcasts] = await Promise.all([getMemberCardsCached(sql, actorIds), knownBroadcasts ?? broadcastTexts(sql, broadcastIds)]);
  return { cards, broadcasts };
}

function actorView(card: MemberCard | undefined): ActorView | null {
  return card ? { id: card.id, handle: card.handle, displayName: card.displayName } : null;
}

export function renderNotification(row: NotificationRow, ctx: RenderContext): NotificationView {
  const actors = (row.actorIds ?? (row.actorId ? [row.actorId] : [])).flatMap((id) => {
    const v = actorView(ctx.cards.get(id));
    return v ? [v] : [];
  });
  const view: NotificationView = {
    id: row.id,
    seq: row.seq,
    type: row.type,
    actor: row.actorId ? actorView(ctx.cards.get(row.actorId)) : null,
    actors,
    subjectId: row.subjectId,
    count: row.count,
    createdAt: row.createdAt.toISOString(),
    updatedAt: (row.updatedAt ?? row.createdAt).toISOString(),
    read: row.readAt !== null,
  };
  const text = row.type === "broadcast" && row.subjectId ? ctx.broadcasts.get(row.subjectId) : undefined;
  if (text) view.broadcast = text;
  return view;
}

export async function renderAll(sql: Sql, rows: readonly NotificationRow[], knownBroadcasts?: ReadonlyMap<string, BroadcastText>): Promise<NotificationView[]> {
  const ctx = await loadRenderContext(sql, rows, knownBroadcasts);
  return rows.map((r) => renderNotification(r, ctx));
}
