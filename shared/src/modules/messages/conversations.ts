/** Creating and listing conversations. 1:1 conversations are unique per pair. */
import { badRequest, forbidden, notFound } from "../../errors/index.ts";
import { hasBidiControls, hasControlCharacters, hasStackedMarks, isStorableText, MAX_MARKS_IN_A_ROW } from "../../http/text.ts";
import { getMemberCards, staffLookalike } from "../profiles/index.ts";
import { blockedAmong, blockersAmong, refusingConversationsFrom } from "../social/index.ts";
import { createLogger } from "../../log/index.ts";
import { announceMembershipChange } from "./membership.ts";
import type { ConversationSummary, MessagingDeps } from "./types.ts";

const log = createLogger("messages");

export const MAX_GROUP_MEMBERS = 50;

export interface CreatedConversation {
  id: string;
  kind: "direct" | "group";
  created: boolean;
}

/** A member's handle, for an answer that names them. */
async function handleOf(deps: Pick<MessagingDeps, "sql">, memberId: string): Promise<string> {
  return (await getMemberCards(deps.sql, [memberId])).get(memberId)?.handle ?? "";
}

/** A group title as members may write it (the same rules as display names, less their length). */
function checkTitle(title: string): void {
  if (title.length > 100) throw badRequest("invalid", "title is at most 100 characters");
  if (!isStorableText(title)) throw badRequest("invalid", "title must not contain NUL or broken Unicode");
  if (hasControlCharacters(title)) throw badRequest("invalid", "title must not contain control characters");
  if (hasBidiControls(title)) throw badRequest("invalid", "title must not contain text-direction control characters");
  if (hasStackedMarks(title)) throw badRequest("invalid", `title must not stack more than ${MAX_MARKS_IN_A_ROW} accents or marks in a row`);
  const lookalike = staffLookalike(title);
  if (lookalike) throw badRequest("title_reserved", `title must not read as the site's own (it has ${lookalike})`);
}

async function directConversationExists(deps: Pick<MessagingDeps, "sql">, directKey: string): Promise<boolean> {
  const [row] = await deps.sql<{ id: string }[]>`select id from conversations where direct_key = ${directKey}`;
  return !!row;
}

export async function createConversation(
  deps: MessagingDeps,
  creatorId: string,
  otherIds: readonly string[],
  title = "",
): Promise<CreatedConversation> {
  const others = [...new Set(otherIds)].filter((id) => id !== creatorId);
  if (others.length === 0) throw badRequest("invalid", "choose at least one other member (handles)");
  if (others.length + 1 > MAX_GROUP_MEMBERS) throw badRequest("invalid", `a conversation has at most ${MAX_GROUP_MEMBERS} members`);
  checkTitle(title);
  // The other member's name is what names a conversation of two: a title there ("Your bank:
  // verify your account") stood in for the sender's name in the recipient's list.
  if (others.length === 1 && title.trim() !== "") throw badRequest("title_for_direct", "a conversation between two members has no title; titles are for groups");
  // A member who blocked the creator is not there for them: 404 word for word as a handle nobody
  // has (POST /api/conversations) and as their profile; one the creator blocked is refused as such.
  const blockers = await blockersAmong(deps.sql, creatorId, others);
  if (blockers.length > 0) throw notFound(`no member @${await handleOf(deps, blockers[0]!)}`);
  if ((await blockedAmong(deps.sql, creatorId, others)).length > 0) {
    throw forbidden("blocked", "you blocked one of these members; unblock them first");
  }
  const kind = others.length === 1 ? "direct" : "group";
  const directKey = kind === "direct" ? [creatorId, others[0]!].sort((a, b) => Number(a) - Number(b)).join(":") : null;
  const memberIds = [creatorId, ...others];

  // Members who take new conversations only from members they follow: a group cannot add them,
  // and a conversation of two is refused unless it exists already (they talk there)
  const refusing = await refusingConversationsFrom(deps.sql, creatorId, others);
  if (refusing.length > 0 && (kind === "group" || !(await directConversationExists(deps, directKey!)))) {
    throw forbidden("not_accepting", `@${await handleOf(deps, refusing[0]!)} takes new conversations only from members they follow`);
  }

  const result = await deps.sql.begin(async (tx) => {
    const [inserted] = await tx<{ id: string }[]>`
      insert into conversations (kind, title, direct_key, created_by)
      values (${kind}, ${title}, ${directKey}, ${creatorId})
      on conflict (direct_key) where direct_key is not null do nothing
      returning id`;
    if (!inserted) {
      const [existing] = await tx<{ id: string }[]>`select id from conversations where direct_key = ${directKey}`;
      return { id: existing!.id, created: false };
    }
    // the creator has engaged (partners.ts): the others see their presence, not yet the reverse
    await tx`
      insert into conversation_members (conversation_id, user_id, engaged)
      select ${inserted.id}, u, u = ${creatorId}::bigint from unnest(${memberIds}::bigint[]) as u`;
    return { id: inserted.id, created: true };
  });

  if (result.created) {
    await deps.events.appendMany(
      memberIds.map((userId) => ({
        userId,
        kind: "conversation" as const,
        data: { conversationId: result.id, change: "created", kind, title, memberIds },
      })),
    );
  }
  return { ...result, kind };
}

interface LastMessageRow {
  id: string;
  kind: "direct" | "group";
  last_id: string | null;
  last_sender: string | null;
  last_body: string | null;
  last_at: Date | null;
}

/**
 * How far back a conversation's preview and unread state look past messages from members hidden
 * from the viewer (a block either way, in a group): one blocked member's flood made every list and
 * unread count read all of it. A group whose last 500 messages are all hidden shows no preview.
 */
const HIDDEN_LOOKBACK = 500;

/**
 * In a group whose last message was written by a member hidden from `userId` (a block either way),
 * the preview is the last message they may see instead (one bounded backward index scan per such group).
 */
async function showOnlyVisibleLastMessages(deps: Pick<MessagingDeps, "sql">, hiddenSet: () => Promise<Set<string>>, convs: LastMessageRow[]): Promise<boolean> {
  const groups = convs.filter((c) => c.kind === "group" && c.last_sender !== null);
  if (groups.length === 0) return false;
  const hidden = await hiddenSet();
  const affected = groups.filter((c) => hidden.has(c.last_sender!));
  if (affected.length === 0) return false;
  const visible = await deps.sql<{ conversation_id: string; id: string | null; sender_id: string | null; body: string | null; created_at: Date | null }[]>`
    select c.id as conversation_id, l.id, l.sender_id, l.body, l.created_at
    from unnest(${affected.map((c) => c.id)}::bigint[]) as c(id)
    left join lateral (
      select id, sender_id, body, created_at from (
        select id, sender_id, body, created_at from messages m
        where m.conversation_id = c.id
        order by m.id desc limit ${HIDDEN_LOOKBACK}
      ) recent
      where recent.sender_id <> all(${[...hidden]}::bigint[])
      order by recent.id desc limit 1
    ) l on true`;
  const byId = new Map(visible.map((v) => [v.conversation_id, v]));
  for (const c of affected) {
    const v = byId.get(c.id);
    [c.last_id, c.last_sender, c.last_body, c.last_at] = [v?.id ?? null, v?.sender_id ?? null, v?.body ?? null, v?.created_at ?? null];
  }
  return true;
}

/** When a conversation last had something its member may see: the last visible message, else its creation. */
function activityOf(c: LastMessageRow & { created_at: Date }): number {
  return (c.last_at ?? c.created_at).getTime();
}

/** The conversation's kind when `userId` is in it, else null. */
export async function conversationKindFor(deps: Pick<MessagingDeps, "sql">, conversationId: string, userId: string): Promise<"direct" | "group" | null> {
  const [row] = await deps.sql<{ kind: "direct" | "group" }[]>`
    select kind from conversations
    where id = ${conversationId}
      and exists (select 1 from conversation_members where conversation_id = ${conversationId} and user_id = ${userId})`;
  return row?.kind ?? null;
}

/** Members with a block either way with `userId`: in groups, neither sees what the other writes. */
export async function hiddenFrom(deps: Pick<MessagingDeps, "sql">, userId: string): Promise<string[]> {
  const rows = await deps.sql<{ id: string }[]>`
    select blocked_id as id from blocks where blocker_id = ${userId}
    union
    select blocker_id as id from blocks where blocked_id = ${userId}`;
  return rows.map((r) => r.id);
}

interface LeftRow {
  joined_at: Date;
  last_read_message_id: string;
  engaged: boolean;
}

/**
 * `userId` leaves a group: the other members and the member's own clients get a `conversation`
 * event (`change: "left"`), and every process forgets the group's cached members at once. A direct
 * conversation cannot be left (block the member instead). False when they were not in it.
 */
export async function leaveConversation(deps: MessagingDeps, conversationId: string, userId: string, opts: { accountDeleted?: true } = {}): Promise<boolean> {
  const kind = await conversationKindFor(deps, conversationId, userId);
  if (!kind) return false;
  if (kind === "direct") throw badRequest("direct_conversation", "a conversation between two members cannot be left; block the member instead");
  // The delete commits before anyone is told, so a client that reads the group again when the
  // "left" event comes finds the member gone (told first, it read them back in). When the events
  // cannot be appended the member is put back as they were: 503, and a retry does it all, rather
  // than out with nobody told and a retry finding nothing to leave.
  const done = await deps.sql.begin(async (tx) => {
    const [row] = await tx<LeftRow[]>`
      delete from conversation_members where conversation_id = ${conversationId} and user_id = ${userId}
      returning joined_at, last_read_message_id, engaged`;
    if (!row) return null;
    // where an account deletion will find the messages the member leaves behind
    await tx`
      insert into conversation_departures (user_id, conversation_id) values (${userId}, ${conversationId})
      on conflict (user_id, conversation_id) do update set left_at = now()`;
    const rows = await tx<{ user_id: string }[]>`select user_id from conversation_members where conversation_id = ${conversationId}`;
    return { row, members: rows.map((r) => r.user_id) };
  });
  if (done === null) return false;
  const remaining = done.members;
  try {
    await deps.events.appendMany(
      // (accountDeleted: the member's messages are being deleted too: clients drop them from view)
      [userId, ...remaining].map((member) => ({ userId: member, kind: "conversation" as const, data: { conversationId, change: "left", userId, ...opts } })),
    );
  } catch (err) {
    await deps.sql`
      insert into conversation_members (conversation_id, user_id, joined_at, last_read_message_id, engaged)
      values (${conversationId}, ${userId}, ${done.row.joined_at}, ${done.row.last_read_message_id}, ${done.row.engaged})
      on conflict do nothing`.catch((undo: Error) => log.error("a member who left untold could not be put back", { conversationId, userId, error: undo.message }));
    throw err;
  }
  await announceMembershipChange(deps.redis, deps.keys, { conversationId, members: [userId, ...remaining] }).catch((err: Error) =>
    log.warn("leave not announced to the membership caches", { conversationId, error: err.message }),
  );
  return true;
}

/**
 * A member's conversations, most recent activity first. The last message of each comes from a
 * one-row backward scan of that conversation's (conversation_id, id) index.
 */
export interface ConversationPage {
  conversations: ConversationSummary[];
  /** pass as `before` for the next page; null when this was the last */
  nextBefore: string | null;
}

export interface ListOptions {
  limit?: number;
  /** a page's `nextBefore`: `<microseconds>_<id>` of the last conversation listed */
  before?: string | null;
  /** only this conversation (when the member is in it) */
  only?: string;
}

const BEFORE = /^(\d{1,18})_(\d{1,18})$/;

/** Whether a `before` cursor is one listConversations handed out (its shape). */
export function isConversationCursor(before: string): boolean {
  return BEFORE.test(before);
}

/**
 * A member's conversations, most recent activity first, in keyset pages. The last message of each
 * comes from a one-row backward scan of that conversation's (conversation_id, id) index.
 */
export async function listConversations(deps: Pick<MessagingDeps, "sql">, userId: string, opts: ListOptions = {}): Promise<ConversationPage> {
  const limit = opts.limit ?? 50;
  const cursor = opts.before ? BEFORE.exec(opts.before) : null;
  const mine = await deps.sql<{ conversation_id: string; last_read_message_id: string }[]>`
    select conversation_id, last_read_message_id from conversation_members
    where user_id = ${userId} ${opts.only ? deps.sql`and conversation_id = ${opts.only}` : deps.sql``}`;
  if (mine.length === 0) return { conversations: [], nextBefore: null };
  const lastRead = new Map(mine.map((m) => [m.conversation_id, m.last_read_message_id]));
  const convs = await deps.sql<
    (LastMessageRow & { title: string; created_at: Date; sort_us: string })[]
  >`
    select x.id, x.kind, x.title, x.created_at, x.last_id, x.last_sender, x.last_body, x.last_at, x.sort_us from (
      select c.id, c.kind, c.title, c.created_at, l.id as last_id, l.sender_id as last_sender, l.body as last_body, l.created_at as last_at,
             (extract(epoch from coalesce(l.created_at, c.created_at)) * 1000000)::bigint as sort_us
      from conversations c
      left join lateral (
        select id, sender_id, body, created_at from messages m where m.conversation_id = c.id order by m.id desc limit 1
      ) l on true
      where c.id = any(${mine.map((m) => m.conversation_id)}::bigint[])
    ) x
    ${cursor ? deps.sql`where (x.sort_us, x.id) < (${cursor[1]!}::bigint, ${cursor[2]!}::bigint)` : deps.sql``}
    order by x.sort_us desc, x.id desc
    limit ${limit + 1}`;
  const more = convs.length > limit;
  if (more) convs.length = limit;
  const nextBefore = more ? `${convs.at(-1)!.sort_us}_${convs.at(-1)!.id}` : null;
  // (a group whose newest message is hidden from this member keeps the place of the one shown: a
  // blocked member writing must not move it up; between pages the order stays the stored one)
  // who is hidden from this member (a block either way): asked once, only when a page needs it
  let hidden: Promise<Set<string>> | undefined;
  const hiddenSet = () => (hidden ??= hiddenFrom(deps, userId).then((ids) => new Set(ids)));
  if (await showOnlyVisibleLastMessages(deps, hiddenSet, convs)) {
    convs.sort((x, y) => (activityOf(y) - activityOf(x)) || Number(BigInt(y.id) - BigInt(x.id)));
  }
  const ids = convs.map((c) => c.id);
  // Every member's read marker goes only to the members of the same conversation ("Seen" receipts).
  const members = await deps.sql<{ conversation_id: string; user_id: string; last_read_message_id: string; engaged: boolean }[]>`
    select conversation_id, user_id, last_read_message_id, engaged from conversation_members where conversation_id = any(${ids}::bigint[])`;
  // Another member's read marker says when they were around: shown only where their presence would
  // be (they engaged in the conversation, no block between them and the viewer), else "0".
  const hiddenHere = members.some((m) => m.user_id !== userId && m.engaged) ? await hiddenSet() : new Set<string>();
  const markerOf = (m: (typeof members)[number]) =>
    m.user_id === userId || (m.engaged && !hiddenHere.has(m.user_id)) ? String(m.last_read_message_id ?? "0") : "0";
  const cards = await getMemberCards(deps.sql, members.map((m) => m.user_id));
  const conversations = convs.map((c) => {
    return {
      id: c.id,
      kind: c.kind,
      title: c.title,
      members: members.filter((m) => m.conversation_id === c.id).flatMap((m) => {
        const card = cards.get(m.user_id);
        return card ? [{ ...card, lastReadMessageId: markerOf(m) }] : [];
      }),
      lastMessage: c.last_id ? { id: c.last_id, senderId: c.last_sender!, body: c.last_body!, ts: c.last_at!.getTime() } : null,
      lastReadMessageId: lastRead.get(c.id) ?? "0",
      createdAt: c.created_at.toISOString(),
    };
  });
  return { conversations, nextBefore };
}

/**
 * How many of a member's conversations have messages from others after the member's read marker
 * (what they could not see in a group aside): the "Chats" badge. One index probe per conversation.
 */
export async function unreadConversationCount(deps: Pick<MessagingDeps, "sql">, userId: string): Promise<number> {
  const hidden = await hiddenFrom(deps, userId);
  // (what a hidden member wrote counts only where it is hidden: in groups, as the list and history do)
  const [row] = await deps.sql<{ n: number }[]>`
    select count(*)::int as n from conversation_members m
    join conversations c on c.id = m.conversation_id
    where m.user_id = ${userId} and exists (
      ${
        hidden.length
          ? deps.sql`
            select 1 from (
              select g.sender_id from messages g
              where g.conversation_id = m.conversation_id and g.id > m.last_read_message_id and g.sender_id <> ${userId}
              order by g.id desc limit ${HIDDEN_LOOKBACK}
            ) unread
            where c.kind = 'direct' or unread.sender_id <> all(${hidden}::bigint[])`
          : deps.sql`
            select 1 from messages g
            where g.conversation_id = m.conversation_id and g.id > m.last_read_message_id and g.sender_id <> ${userId}`
      }
    )`;
  return row?.n ?? 0;
}
