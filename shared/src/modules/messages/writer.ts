/**
 * Group commit for messages. Every commit costs an fsync (about 0.4 ms here, ~7,500/s at best),
 * so under load one-INSERT-per-message is capped by the disk, not by us. Sends that arrive while a
 * batch is being written wait for the next one, which writes them all with a single statement:
 * no added latency when idle, bigger batches exactly when the load needs them.
 */
import type { Sql } from "../../db/index.ts";
import { AppError } from "../../errors/index.ts";
import { createLogger } from "../../log/index.ts";

const log = createLogger("messages");

export interface RowToWrite {
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
  /** the other member of a direct conversation (for the block check), null for groups */
  directPeer: string | null;
}

export type WriteOutcome =
  | { kind: "inserted"; messageId: string; createdAt: Date }
  /** nothing written: a block exists, or this id was written before — the caller finds out which */
  | { kind: "skipped" };

interface Pending {
  row: RowToWrite;
  resolve: (o: WriteOutcome) => void;
  reject: (e: unknown) => void;
}

const MAX_BATCH = 500;
/**
 * A batch not written by then (Postgres is away: the connection waits to reconnect) fails its
 * sends, so senders hear "resend later" instead of nothing. A write that still commits afterwards
 * is harmless: the resend finds its row and announces it (sends are idempotent).
 */
export const WRITE_DEADLINE_MS = 5_000;

function unavailable(): AppError {
  return new AppError(503, "unavailable", "messages cannot be stored right now; resend later with the same id", { "Retry-After": "2" });
}

export function createMessageWriter(sql: Sql, deadlineMs = WRITE_DEADLINE_MS) {
  let queue: Pending[] = [];
  let writing = false;

  async function writeBatch(batch: Pending[]): Promise<void> {
    const rows = batch.map((p) => p.row);
    const inserted = await sql<{ id: string; conversation_id: string; sender_id: string; client_msg_id: string; created_at: Date }[]>`
      insert into messages (conversation_id, sender_id, client_msg_id, body)
      select i.cid, i.sender, i.cmid, i.body
      from unnest(
        ${rows.map((_, n) => n)}::int[],
        ${rows.map((r) => r.conversationId)}::bigint[],
        ${rows.map((r) => r.senderId)}::bigint[],
        ${rows.map((r) => r.clientMsgId)}::uuid[],
        ${rows.map((r) => r.body)}::text[],
        ${rows.map((r) => r.directPeer)}::bigint[]
      ) as i(ord, cid, sender, cmid, body, peer)
      where i.peer is null or not exists (
        select 1 from blocks b
        where (b.blocker_id = i.sender and b.blocked_id = i.peer) or (b.blocker_id = i.peer and b.blocked_id = i.sender)
      )
      order by i.ord
      on conflict (conversation_id, sender_id, client_msg_id) do nothing
      returning id, conversation_id, sender_id, client_msg_id, created_at`;
    const byKey = new Map(inserted.map((r) => [`${r.conversation_id}:${r.sender_id}:${r.client_msg_id}`, r]));
    for (const p of batch) {
      const hit = byKey.get(`${p.row.conversationId}:${p.row.senderId}:${p.row.clientMsgId}`);
      // Two sends of one id in the same batch: the first takes the row, the second is a repeat.
      if (hit) byKey.delete(`${p.row.conversationId}:${p.row.senderId}:${p.row.clientMsgId}`);
      p.resolve(hit ? { kind: "inserted", messageId: hit.id, createdAt: hit.created_at } : { kind: "skipped" });
    }
  }

  async function drain(): Promise<void> {
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, MAX_BATCH);
        queue = queue.slice(batch.length);
        let late: Timer | undefined;
        try {
          await Promise.race([
            writeBatch(batch),
            new Promise<never>((_, fail) => (late = setTimeout(() => fail(unavailable()), deadlineMs))),
          ]);
        } catch (err) {
          if (err instanceof AppError) log.warn("message batch not written in time", { rows: batch.length, deadlineMs });
          for (const p of batch) p.reject(err);
        } finally {
          clearTimeout(late);
        }
      }
    } finally {
      writing = false;
    }
  }

  function write(row: RowToWrite): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      queue.push({ row, resolve, reject });
      if (!writing) void drain();
    });
  }

  return { write };
}

export type MessageWriter = ReturnType<typeof createMessageWriter>;
