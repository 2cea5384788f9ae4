/**
 * The one message write path, used by the chat tier's `send` frame and the api's POST /api/messages:
 * membership (cached) → dedup slot in Redis and the group-committed write in parallel (the unique
 * key in Postgres makes a repeat a no-op; the writer also refuses blocked pairs) → append a
 * `message` event to every participant's stream → remember the answer for repeats.
 */
import { AppError, forbidden } from "../../errors/index.ts";
import { conversationInfo } from "./membership.ts";
import type { MessageEventData, MessagingDeps, SendInput, SentAnswer } from "./types.ts";
import { createMessageWriter, type MessageWriter, type WriteOutcome } from "./writer.ts";

const ANSWER_TTL_SECONDS = 86_400;
const PENDING_TTL_MS = 15_000;
const PENDING = "pending";

export interface SendResult {
  answer: SentAnswer;
  /** true when this `id` had been sent before and nothing was written */
  duplicate: boolean;
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

async function findExisting(deps: MessagingDeps, senderId: string, input: SendInput): Promise<{ id: string; created_at: Date; body: string } | null> {
  const [row] = await deps.sql<{ id: string; created_at: Date; body: string }[]>`
    select id, created_at, body from messages
    where conversation_id = ${input.conversationId} and sender_id = ${senderId} and client_msg_id = ${input.id}`;
  return row ?? null;
}

const writers = new WeakMap<MessagingDeps, MessageWriter>();
function writerFor(deps: MessagingDeps): MessageWriter {
  let w = writers.get(deps);
  if (!w) writers.set(deps, (w = createMessageWriter(deps.sql)));
  return w;
}

export async function sendMessage(deps: MessagingDeps, senderId: string, input: SendInput): Promise<SendResult> {
  const conv = await conversationInfo(deps, input.conversationId, senderId);
  if (!conv) throw forbidden("not_member", "no such conversation, or you are not in it");
  const members = conv.members;
  const directPeer = conv.kind === "direct" ? (conv.members.find((m) => m !== senderId) ?? null) : null;

  // The Redis dedup slot and the Postgres write run side by side: the unique key makes the write
  // safe on its own (a repeat is skipped), so waiting for Redis first would only add a round trip.
  // SET NX GET takes the pending slot, or reads what an earlier attempt left.
  const key = deps.keys.sendDedup(senderId, input.id);
  const [previousResult, writeResult] = await Promise.allSettled([
    deps.redis.set(key, PENDING, "PX", PENDING_TTL_MS, "NX", "GET") as Promise<string | null>,
    writerFor(deps).write({ conversationId: input.conversationId, senderId, clientMsgId: input.id, body: input.body, directPeer }),
  ]);
  if (previousResult.status === "rejected") throw previousResult.reason;
  const previous = previousResult.value;
  if (previous === PENDING) return answerFor(input, await waitForAnswer(deps, key));
  if (previous) {
    const found = JSON.parse(previous) as SentAnswer;
    if (found.conversationId !== input.conversationId && writeResult.status === "fulfilled" && writeResult.value.kind === "inserted") {
      // The id was reused for another conversation: undo the row written in parallel.
      await deps.sql`delete from messages where conversation_id = ${input.conversationId} and id = ${writeResult.value.messageId}`;
    }
    return answerFor(input, found);
  }
  if (writeResult.status === "rejected") {
    await deps.redis.del(key);
    throw writeResult.reason;
  }
  const outcome: WriteOutcome = writeResult.value;

  let messageId: string;
  let createdAt: Date;
  let duplicate = false;
  let body = input.body;
  if (outcome.kind === "inserted") {
    messageId = outcome.messageId;
    createdAt = outcome.createdAt;
  } else {
    // Either Postgres already has this id (the Redis answer was lost: answer from the row and
    // re-announce it — clients drop what they already have by messageId), or a block stopped it.
    const existing = await findExisting(deps, senderId, input);
    if (!existing) {
      await deps.redis.del(key);
      throw forbidden("blocked", "you cannot message this member");
    }
    messageId = existing.id;
    createdAt = existing.created_at;
    body = existing.body;
    duplicate = true;
  }

  const ts = createdAt.getTime();
  const data: MessageEventData = {
    messageId,
    conversationId: input.conversationId,
    senderId,
    body,
    ts,
    clientMsgId: input.id,
    ...(input.clientTs !== undefined ? { clientTs: input.clientTs } : {}),
  };
  const appended = await deps.events.appendMany(members.map((userId) => ({ userId, kind: "message" as const, data })));
  const seq = appended.find((a) => a.userId === senderId)?.seq ?? 0;
  const answer: SentAnswer = { id: input.id, messageId, conversationId: input.conversationId, ts, seq };
  // Not awaited: until it lands, a repeat finds the pending slot and waits for it.
  void deps.redis.set(key, JSON.stringify(answer), "EX", ANSWER_TTL_SECONDS).catch(() => {});

  const offline = appended.filter((a) => !a.online && a.userId !== senderId).map((a) => a.userId);
  if (offline.length && deps.onOfflineRecipients) {
    // A missed "you have a message" notification must never fail the send itself.
    void deps.onOfflineRecipients(offline, data).catch(() => {});
  }
  return { answer, duplicate };
}
