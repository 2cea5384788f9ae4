/**
 * Group commit for messages. Every commit costs an fsync (about 0.4 ms here, ~7,500/s at best),
 * so under load one-INSERT-per-message is capped by the disk, not by us. Sends that arrive while a
 * batch is being written wait for the next one, which writes them all with a single statement:
 * no added latency when idle, bigger batches exactly when the load needs them.
 */
import { isReplaceable, type Sql } from "../../db/index.ts";
import { AppError } from "../../errors/index.ts";
import { createLogger } from "../../log/index.ts";

const log = createLogger("messages");

export interface RowToWrite {
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
  /** the other member of a direct conversation (for the block and contact-policy checks), null for groups */
  directPeer: string | null;
}

export type WriteOutcome =
  | { kind: "inserted"; messageId: string; createdAt: Date }
  /** nothing written: the sender is not a member (any more), a block exists, the peer takes no conversation from the sender, or this id was written before — the caller finds out which */
  | { kind: "skipped" };

interface Pending {
  row: RowToWrite;
  resolve: (o: WriteOutcome) => void;
  reject: (e: unknown) => void;
  /** when this send stops waiting (its own deadline, however long it queued behind others) */
  deadline: number;
}

const MAX_BATCH = 500;
/**
 * A send not written by then — counted from when it was asked for, whether it waited in the
 * queue or in a batch (Postgres is away, locked, or the connection is stuck) — fails, so its
 * sender hears "resend later" instead of nothing. The batch in flight at the deadline is
 * cancelled and, when the writer's connection can be replaced, the connection with it: a
 * connection whose backend was killed under a query was seen answering nothing for 33–40 s. A
 * write that still commits afterwards is harmless: the resend finds its row and announces it
 * (sends are idempotent).
 */
export const WRITE_DEADLINE_MS = 5_000;

function unavailable(): AppError {
  return new AppError(503, "unavailable", "messages cannot be stored right now; resend later with the same id", { "Retry-After": "2" });
}

export function createMessageWriter(sql: Sql, deadlineMs = WRITE_DEADLINE_MS) {
  let queue: Pending[] = [];
  let writing = false;

  function insertBatch(rows: RowToWrite[]) {
    return sql<{ id: string; conversation_id: string; sender_id: string; client_msg_id: string; created_at: Date }[]>`
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
      -- still a member: the caller's membership cache may not have heard of a leave yet
      where exists (select 1 from conversation_members cm where cm.conversation_id = i.cid and cm.user_id = i.sender)
      and (i.peer is null or (
        not exists (
          select 1 from blocks b
          where (b.blocker_id = i.sender and b.blocked_id = i.peer) or (b.blocker_id = i.peer and b.blocked_id = i.sender)
        )
        -- the peer's contact setting (migration 010). Few members have one: the probe keeps the
        -- rule's function, and its read of the partitioned messages, off almost every batch
        and not (
          exists (select 1 from contact_policies p where p.user_id = i.peer)
          and refuses_message_from(i.peer, i.sender, i.cid)
        )
      ))
      order by i.ord
      on conflict (conversation_id, sender_id, client_msg_id) do nothing
      returning id, conversation_id, sender_id, client_msg_id, created_at`;
  }

  function settle(batch: Pending[], inserted: { id: string; conversation_id: string; sender_id: string; client_msg_id: string; created_at: Date }[]): void {
    const byKey = new Map(inserted.map((r) => [`${r.conversation_id}:${r.sender_id}:${r.client_msg_id}`, r]));
    for (const p of batch) {
      const hit = byKey.get(`${p.row.conversationId}:${p.row.senderId}:${p.row.clientMsgId}`);
      // Two sends of one id in the same batch: the first takes the row, the second is a repeat.
      if (hit) byKey.delete(`${p.row.conversationId}:${p.row.senderId}:${p.row.clientMsgId}`);
      p.resolve(hit ? { kind: "inserted", messageId: hit.id, createdAt: hit.created_at } : { kind: "skipped" });
    }
  }

  /** Sends whose deadline passed while they queued: failed now, not sent to Postgres. */
  function failExpired(now: number): void {
    let n = 0;
    while (n < queue.length && queue[n]!.deadline <= now) n++;
    if (n === 0) return;
    const expired = queue.slice(0, n);
    queue = queue.slice(n);
    log.warn("message sends not written in time", { rows: expired.length, deadlineMs });
    for (const p of expired) p.reject(unavailable());
  }

  /** The statement ran for a whole deadline: abandon it and its connection. */
  function giveUp(query: { cancel(): unknown }): void {
    // (the cancel request itself may fail once the connection is gone: nothing to do about it)
    void Promise.resolve(query.cancel()).catch(() => {});
    if (isReplaceable(sql)) sql.replace();
  }

  /**
   * Fails each send of the batch at its own deadline while the statement runs (they are in arrival
   * order, so the earliest first); returns a stop function for when the statement settles.
   */
  function expireWhileWriting(batch: Pending[]): () => void {
    let next = 0;
    let timer: Timer | undefined;
    const tick = () => {
      const now = Date.now();
      let failed = 0;
      while (next < batch.length && batch[next]!.deadline <= now) {
        batch[next++]!.reject(unavailable());
        failed++;
      }
      if (failed) log.warn("message sends not written in time", { rows: failed, deadlineMs });
      if (next < batch.length) timer = setTimeout(tick, batch[next]!.deadline - now);
    };
    tick();
    return () => clearTimeout(timer);
  }

  async function drain(): Promise<void> {
    writing = true;
    try {
      for (failExpired(Date.now()); queue.length > 0; failExpired(Date.now())) {
        const batch = queue.slice(0, MAX_BATCH);
        queue = queue.slice(batch.length);
        const query = insertBatch(batch.map((p) => p.row));
        const stopExpiring = expireWhileWriting(batch);
        let stuck: Timer | undefined;
        try {
          // Only a statement that itself ran for a whole deadline is given up (with its connection):
          // a healthy new connection must not be dropped because the sends it carries waited before.
          const inserted = await Promise.race([
            query,
            new Promise<never>((_, fail) => (stuck = setTimeout(() => fail(unavailable()), deadlineMs))),
          ]);
          settle(batch, inserted);
        } catch (err) {
          if (err instanceof AppError) {
            log.warn("message batch not written in time", { rows: batch.length, deadlineMs });
            giveUp(query);
          }
          // (sends already failed at their deadline ignore this)
          for (const p of batch) p.reject(err);
        } finally {
          clearTimeout(stuck);
          stopExpiring();
        }
      }
    } finally {
      writing = false;
    }
  }

  function write(row: RowToWrite): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      queue.push({ row, resolve, reject, deadline: Date.now() + deadlineMs });
      if (!writing) void drain();
    });
  }

  return { write };
}

export type MessageWriter = ReturnType<typeof createMessageWriter>;
