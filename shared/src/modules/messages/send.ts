/**
 * The one message write path, used by the chat tier's `send` frame and the api's POST /api/messages:
 * dedup (Redis fast path, Postgres unique key behind it) → validate membership and blocks and
 * persist in one statement → append a `message` event to every participant's stream → remember
 * the answer for repeats.
 */
import { AppError, forbidden } from "../../errors/index.ts";
import type { MessageEventData, MessagingDeps, SendInput, SentAnswer } from "./types.ts";

const ANSWER_TTL_SECONDS = 86_400;
const PENDING_TTL_MS = 15_000;
const PENDING = "pending";

export interface SendResult {
  answer: SentAnswer;
  /** true when this `id` had been sent before and nothing was written */
  duplicate: boolean;
}

interface InsertRow {
  members: string[] | null;
  allowed: number | null;
  id: string | null;
  created_at: Date | null;
}

function answerFor(input: SendInput, found: SentAnswer): SendResult {
  if (found.conversationId !== input.conversationId) {
    throw new AppError(409, "id_conflict", "this id was already used for another conversation");
  }
  return { answer: found, duplicate: true };
}

async function waitForAnswer(deps: MessagingDeps, key: string): Promise<SentAnswer> {
  for (let i = 0; i < 60; i++) {
    await Bun.sleep(50);
    const v = await deps.redis.get(key);
    if (v && v !== PENDING) return JSON.parse(v) as SentAnswer;
    if (!v) break;
  }
  throw new AppError(503, "busy", "the same message is being sent; retry");
}

async function insertMessage(deps: MessagingDeps, senderId: string, input: SendInput): Promise<InsertRow> {
  const cid = input.conversationId;
  const [row] = await deps.sql<InsertRow[]>`
    with conv as (
      select kind from conversations where id = ${cid}
    ), members as (
      select user_id from conversation_members where conversation_id = ${cid}
    ), allowed as (
      select 1 as ok
      where exists (select 1 from members where user_id = ${senderId})
        and not exists (
          select 1 from blocks
          where (select kind from conv) = 'direct'
            and ((blocker_id = ${senderId} and blocked_id in (select user_id from members))
              or (blocked_id = ${senderId} and blocker_id in (select user_id from members)))
        )
    ), ins as (
      insert into messages (conversation_id, sender_id, client_msg_id, body)
      select ${cid}, ${senderId}, ${input.id}, ${input.body} from allowed
      on conflict (conversation_id, sender_id, client_msg_id) do nothing
      returning id, created_at
    ), touch as (
      update conversations set last_message_id = ins.id, last_message_at = ins.created_at
      from ins where conversations.id = ${cid}
    )
    select (select array_agg(user_id) from members) as members,
           (select ok from allowed) as allowed,
           (select id from ins) as id,
           (select created_at from ins) as created_at`;
  return row!;
}

async function findExisting(deps: MessagingDeps, senderId: string, input: SendInput): Promise<{ id: string; created_at: Date; body: string } | null> {
  const [row] = await deps.sql<{ id: string; created_at: Date; body: string }[]>`
    select id, created_at, body from messages
    where conversation_id = ${input.conversationId} and sender_id = ${senderId} and client_msg_id = ${input.id}`;
  return row ?? null;
}

export async function sendMessage(deps: MessagingDeps, senderId: string, input: SendInput): Promise<SendResult> {
  const key = deps.keys.sendDedup(senderId, input.id);
  // SET NX GET: take the pending slot, or read what an earlier attempt left, in one round trip.
  const previous = (await deps.redis.set(key, PENDING, "PX", PENDING_TTL_MS, "NX", "GET")) as string | null;
  if (previous === PENDING) return answerFor(input, await waitForAnswer(deps, key));
  if (previous) return answerFor(input, JSON.parse(previous) as SentAnswer);

  let row: InsertRow;
  try {
    row = await insertMessage(deps, senderId, input);
  } catch (err) {
    await deps.redis.del(key);
    throw err;
  }
  if (!row.allowed) {
    await deps.redis.del(key);
    if (!row.members?.includes(senderId)) throw forbidden("not_member", "no such conversation, or you are not in it");
    throw forbidden("blocked", "you cannot message this member");
  }

  let messageId = row.id;
  let createdAt = row.created_at;
  let duplicate = false;
  let body = input.body;
  if (!messageId) {
    // Postgres already has this id (the Redis answer was lost): answer from the row and
    // re-announce it — clients drop what they already have by messageId.
    const existing = await findExisting(deps, senderId, input);
    if (!existing) {
      await deps.redis.del(key);
      throw new AppError(503, "busy", "retry the send");
    }
    messageId = existing.id;
    createdAt = existing.created_at;
    body = existing.body;
    duplicate = true;
  }

  const ts = createdAt!.getTime();
  const data: MessageEventData = {
    messageId,
    conversationId: input.conversationId,
    senderId,
    body,
    ts,
    clientMsgId: input.id,
    ...(input.clientTs !== undefined ? { clientTs: input.clientTs } : {}),
  };
  const members = row.members ?? [senderId];
  const appended = await deps.events.appendMany(members.map((userId) => ({ userId, kind: "message" as const, data })));
  const seq = appended.find((a) => a.userId === senderId)?.seq ?? 0;
  const answer: SentAnswer = { id: input.id, messageId, conversationId: input.conversationId, ts, seq };
  await deps.redis.set(key, JSON.stringify(answer), "EX", ANSWER_TTL_SECONDS);

  if (deps.onOfflineRecipients && deps.online) void notifyOffline(deps, members.filter((m) => m !== senderId), data);
  return { answer, duplicate };
}

async function notifyOffline(deps: MessagingDeps, recipients: string[], data: MessageEventData): Promise<void> {
  try {
    if (recipients.length === 0) return;
    const flags = await deps.online!(recipients);
    const offline = recipients.filter((_, i) => !flags[i]);
    if (offline.length) await deps.onOfflineRecipients!(offline, data);
  } catch {
    // A missed "you have a message" notification must never fail the send itself.
  }
}
