/**
 * The one message write path, used by the chat tier's `send` frame and the api's POST /api/messages:
 * membership (cached) → the group-committed write (the unique key (conversation, sender, id) makes
 * a repeat a no-op; the writer also refuses blocked pairs) → one Redis command that appends a
 * `message` event to every participant's stream and stores the answer repeats get, unless an
 * answer for this id is already there. A first send costs one Postgres write (shared with the
 * other sends of its batch) and one Redis command (also shared with the sends of its batch).
 */
import { DEFAULT_SEND_ANSWER_TTL_SECONDS } from "../../config/index.ts";
import { AppError, forbidden } from "../../errors/index.ts";
import { conversationInfo, memberGone, notMember, recipientsOf, type ConversationInfo } from "./membership.ts";
import { isBlockedEitherWay } from "../social/index.ts";
import { areOnline, showEngaged } from "../presence/index.ts";
import type { MessageEventData, MessagingDeps, SendInput, SentAnswer } from "./types.ts";
import { createMessageWriter, type MessageWriter } from "./writer.ts";

/** How long a repeat waits for the first attempt's answer while that attempt may still be running. */
const FIRST_ATTEMPT_GRACE_MS = 3_000;
/** Written by earlier versions while a send was in flight; never an answer. */
const LEGACY_PENDING = "pending";
/** Announcements whose reply was lost, watched at once at most (past it, a lost reply is not watched). */
const MAX_LATE_WATCHES = 10_000;
const lateWatches = new Set<string>();

export interface SendResult {
  answer: SentAnswer;
  /** true when this `id` had been sent before and nothing was written */
  duplicate: boolean;
  /**
   * The event frame this call appended to the sender's own stream (seq `answer.seq`), when it
   * appended one. A chat replica (`deps.replicaName`) must write it to the sender's sockets it
   * holds: it is published only for sockets elsewhere. The sending socket writes it with the answer.
   */
  ownEvent?: string;
}

function answerFor(input: SendInput, found: SentAnswer): SendResult {
  if (found.conversationId !== input.conversationId) {
    throw new AppError(409, "id_conflict", "this id was already used for another conversation");
  }
  return { answer: found, duplicate: true };
}

async function storedAnswer(deps: MessagingDeps, key: string): Promise<SentAnswer | null> {
  const v = await deps.redis.get(key);
  return v && v !== LEGACY_PENDING ? (JSON.parse(v) as SentAnswer) : null;
}

async function waitForAnswer(deps: MessagingDeps, key: string, ms: number): Promise<SentAnswer | null> {
  for (let waited = 0; waited < ms; waited += 50) {
    await Bun.sleep(50);
    const found = await storedAnswer(deps, key);
    if (found) return found;
  }
  return null;
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
  if (!w) writers.set(deps, (w = createMessageWriter(deps.writeSql ?? deps.sql)));
  return w;
}

interface Announcement {
  members: string[];
  senderId: string;
  input: SendInput;
  /** the stored row: its id, body and time */
  message: { id: string; body: string; createdAt: Date };
  /** announced again from a row older than the answers are kept: its first announcement notified */
  again?: true;
  /**
   * announced again from a row whose answer was missing: its first attempt's announcement may yet
   * turn up (its reply was lost), so whichever of the two notifies takes the mark first
   */
  repeat?: true;
}

/** How long a send's answer is kept for its repeats. */
function answerTtlSeconds(deps: MessagingDeps): number {
  return deps.answerTtlSeconds ?? DEFAULT_SEND_ANSWER_TTL_SECONDS;
}

/**
 * "You have a message" for the members offline. `once`: a repeat's announcement and the watch on
 * a lost reply may both get here for one send; whichever takes the mark first notifies, and gives
 * the mark back should notifying fail.
 */
async function notifyOffline(deps: MessagingDeps, key: string, offline: string[], data: MessageEventData, once: boolean): Promise<void> {
  const notify = deps.onOfflineRecipients;
  if (!notify || offline.length === 0) return;
  const mark = `${key}:notified`;
  if (once && (await deps.redis.set(mark, "1", "EX", answerTtlSeconds(deps), "NX")) !== "OK") return;
  await notify(offline, data).catch(async (err: unknown) => {
    if (once) await deps.redis.del(mark).catch(() => {});
    throw err;
  });
}

/**
 * The announcement's reply was lost (Redis paused, a failover, slower than the command timeout)
 * and its script may still run: the send is answered `unavailable` and resent, and the resend
 * finds the late answer and notifies nobody — the members offline would never hear of it. So
 * the answer is watched (one watch per send, as long as an answer is kept); once it shows this
 * message, the members offline then are notified (unless a repeat's own announcement did it).
 */
function notifyIfAnnouncedLate(deps: MessagingDeps, key: string, a: Announcement, data: MessageEventData): void {
  if (!deps.onOfflineRecipients || lateWatches.has(key) || lateWatches.size >= MAX_LATE_WATCHES) return;
  lateWatches.add(key);
  // as long as the answer would be kept: a command given up on is sent again when the connection
  // comes back, however long that takes
  const until = performance.now() + answerTtlSeconds(deps) * 1000;
  void (async () => {
    for (let pause = 1000; performance.now() < until; pause = Math.min(pause * 2, 15_000)) {
      await Bun.sleep(pause);
      const found = await storedAnswer(deps, key).catch(() => null);
      if (!found) continue;
      if (found.messageId !== a.message.id) return;
      const others = a.members.filter((m) => m !== a.senderId);
      const online = await areOnline(deps.redis, deps.keys, others);
      return notifyOffline(deps, key, others.filter((_, i) => !online[i]), data, true);
    }
  })()
    .catch(() => {})
    .finally(() => lateWatches.delete(key));
}

/** A command whose reply never came: Redis may still run it (a timeout, a connection lost with it in flight). */
function outcomeUnknown(err: unknown): boolean {
  return err instanceof Error && (err.name === "MaxRetriesPerRequestError" || /^Command timed out$|^Connection is closed/.test(err.message));
}

/**
 * The events of a written message and its answer, at most once per id, then the "you have a
 * message" notification for participants with no open client. When an answer for this id is
 * already stored, nothing is appended and that answer comes back for the caller to judge.
 */
async function announce(deps: MessagingDeps, key: string, a: Announcement): Promise<{ answer: SentAnswer; ownEvent: string } | { existing: SentAnswer }> {
  const data: MessageEventData = {
    messageId: a.message.id,
    conversationId: a.input.conversationId,
    senderId: a.senderId,
    body: a.message.body,
    ts: a.message.createdAt.getTime(),
    clientMsgId: a.input.id,
    ...(a.input.clientTs !== undefined ? { clientTs: a.input.clientTs } : {}),
  };
  const base = { id: a.input.id, messageId: data.messageId, conversationId: a.input.conversationId, ts: data.ts };
  const json = JSON.stringify(base);
  const senderIndex = a.members.indexOf(a.senderId);
  if (senderIndex < 0) throw new Error("the sender is not a member of the conversation");
  const result = await deps.events
    .appendOnce(
      a.members.map((userId) => ({ userId, kind: "message" as const, data })),
      { key, ttlSeconds: answerTtlSeconds(deps), seqOf: senderIndex, head: `${json.slice(0, -1)},"seq":`, tail: "}", placeholder: LEGACY_PENDING, localReplica: deps.replicaName },
    )
    .catch((err: unknown) => {
      if (outcomeUnknown(err) && !a.again) notifyIfAnnouncedLate(deps, key, a, data);
      throw err;
    });
  if (!result.ok) return { existing: JSON.parse(result.existing) as SentAnswer };
  const offline = result.appended.filter((x) => !x.online && x.userId !== a.senderId).map((x) => x.userId);
  // A missed "you have a message" notification must never fail the send itself.
  if (!a.again) void notifyOffline(deps, key, offline, data, a.repeat === true).catch(() => {});
  return { answer: { ...base, seq: result.appended[senderIndex]!.seq }, ownEvent: result.frame };
}

/**
 * Postgres skipped the row: a block stopped it, or this id was written before. A repeat gets the
 * first attempt's answer — waiting briefly while that attempt may still be announcing — or, when
 * the answer is gone (expired, lost with Redis, or the first attempt died between its write and
 * its events), the message is announced again from the row: clients drop a messageId they have.
 */
/** Why Postgres skipped a first send: the sender left, a block either way, or the peer's contact setting. */
async function refusalFor(deps: MessagingDeps, senderId: string, conversationId: string, directPeer: string | null): Promise<AppError> {
  const [member] = await deps.sql`select 1 from conversation_members where conversation_id = ${conversationId} and user_id = ${senderId}`;
  if (!member) return notMember();
  if (directPeer && !(await isBlockedEitherWay(deps.sql, senderId, directPeer))) {
    return forbidden("not_accepting", "this member takes new conversations only from members they follow");
  }
  return forbidden("blocked", "you cannot message this member");
}

/** The peer's contact setting refuses the sender here (the writer's rule, migration 010; it reads the setting first). */
async function shutBy(deps: MessagingDeps, peer: string, senderId: string, conversationId: string): Promise<boolean> {
  const [row] = await deps.sql<{ shut: boolean }[]>`select refuses_message_from(${peer}, ${senderId}, ${conversationId}) as shut`;
  return row?.shut === true;
}

async function answerRepeat(deps: MessagingDeps, key: string, senderId: string, members: string[], input: SendInput, directPeer: string | null): Promise<SendResult> {
  const stored = await storedAnswer(deps, key);
  if (stored) return answerFor(input, stored);
  const row = await findExisting(deps, senderId, input);
  if (!row) throw await refusalFor(deps, senderId, input.conversationId, directPeer);
  const graceLeft = FIRST_ATTEMPT_GRACE_MS - (Date.now() - row.created_at.getTime());
  const late = graceLeft > 0 ? await waitForAnswer(deps, key, graceLeft) : null;
  if (late) return answerFor(input, late);
  // A row older than an answer is kept was announced, and its answer expired since: its offline
  // members were notified then. A younger one with no answer never was (its first attempt died
  // between its write and its announcement, or Redis lost the answer): notified now.
  const answerTtlMs = answerTtlSeconds(deps) * 1000;
  const again = Date.now() - row.created_at.getTime() > answerTtlMs ? ({ again: true } as const) : ({ repeat: true } as const);
  // The peer may have shut the conversation since (their contact setting): the writer would refuse
  // a new message, so an old one is not put in front of them again either — the sender alone hears it.
  const audience = directPeer && (await shutBy(deps, directPeer, senderId, input.conversationId)) ? [senderId] : members;
  const announced = await announce(deps, key, { members: audience, senderId, input, message: { id: row.id, body: row.body, createdAt: row.created_at }, ...again });
  if ("existing" in announced) return answerFor(input, announced.existing);
  return { answer: announced.answer, duplicate: true, ownEvent: announced.ownEvent };
}

/**
 * The sender's first message in this conversation: from now on its members may see when the
 * sender is online (partners.ts), and those online are told at once. Never holds up the send; the
 * cached conversation remembers it, so this runs once per member and conversation (per process).
 */
function engage(deps: MessagingDeps, conv: ConversationInfo, conversationId: string, senderId: string, members: readonly string[]): void {
  conv.engaged.add(senderId);
  void (async () => {
    const [changed] = await deps.sql`
      update conversation_members set engaged = true
      where conversation_id = ${conversationId} and user_id = ${senderId} and not engaged
      returning 1`;
    if (changed) await showEngaged(deps.redis, deps.keys, senderId, members.filter((m) => m !== senderId));
  })().catch(() => conv.engaged.delete(senderId));
}

export async function sendMessage(deps: MessagingDeps, senderId: string, input: SendInput): Promise<SendResult> {
  const conv = await conversationInfo(deps, input.conversationId, senderId);
  if (!conv) throw notMember();
  // the other member deleted their account: nobody would ever read it (a repeat of a message
  // stored before is still answered)
  if (conv.kind === "direct" && conv.members.length < 2 && !(await findExisting(deps, senderId, input))) throw memberGone();
  // in a group, members with a block either way with the sender neither get nor are told of it
  const members = recipientsOf(conv, senderId);
  const directPeer = conv.kind === "direct" ? (conv.members.find((m) => m !== senderId) ?? null) : null;
  deps.fanoutBudget?.charge(senderId, Buffer.byteLength(input.body), members.length - 1);
  const key = deps.keys.sendDedup(senderId, input.id);

  const outcome = await writerFor(deps).write({ conversationId: input.conversationId, senderId, clientMsgId: input.id, body: input.body, directPeer });
  if (outcome.kind === "skipped") return answerRepeat(deps, key, senderId, members, input, directPeer);

  const message = { id: outcome.messageId, body: input.body, createdAt: outcome.createdAt };
  if (!conv.engaged.has(senderId)) engage(deps, conv, input.conversationId, senderId, members);
  const announced = await announce(deps, key, { members, senderId, input, message });
  if ("existing" in announced) {
    const other = announced.existing.conversationId !== input.conversationId;
    // Used for another conversation (a repeat in this one is skipped by Postgres): undo the row
    // just written, then refuse. Same conversation: a repeat found this row and announced it while
    // this attempt was held up — the row is the message everyone has, so it stays.
    if (other) await deps.sql`delete from messages where conversation_id = ${input.conversationId} and id = ${outcome.messageId}`;
    return answerFor(input, announced.existing);
  }
  return { answer: announced.answer, duplicate: false, ownEvent: announced.ownEvent };
}
