/** Per-type mutes, honoured at write time by every write path. */
import type { Sql } from "../../db/index.ts";
import { NOTIFICATION_TYPES, type NotificationType } from "./types.ts";

export async function mutedTypes(sql: Sql, userId: string): Promise<NotificationType[]> {
  const [row] = await sql<{ muted: NotificationType[] }[]>`select muted::text[] as muted from notification_settings where user_id = ${userId}`;
  return row ? NOTIFICATION_TYPES.filter((t) => row.muted.includes(t)) : [];
}

export async function setMutedTypes(sql: Sql, userId: string, muted: readonly NotificationType[]): Promise<void> {
  const unique = [...new Set(muted)];
  await sql`
    insert into notification_settings (user_id, muted, updated_at)
    values (${userId}, ${unique as string[]}::notification_type[], now())
    on conflict (user_id) do update set muted = excluded.muted, updated_at = excluded.updated_at`;
}

export async function isMuted(sql: Sql, userId: string, type: NotificationType): Promise<boolean> {
  const [row] = await sql<{ one: number }[]>`
    select 1 as one from notification_settings where user_id = ${userId} and ${type}::notification_type = any(muted)`;
  return !!row;
}
