/** Conversations and messages over HTTP: bad text, read markers. */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { registeredClient, useTestApi } from "../../../../../tests/harness/api.ts";
import { CONVERSATION_LISTS_PER_10S, HTTP_SENDS_PER_10S, NEW_CONVERSATIONS_PER_10MIN } from "./routes.ts";

setDefaultTimeout(60_000);

const api = useTestApi();

async function pair() {
  const a = await registeredClient(api);
  const b = await registeredClient(api);
  const res = await a.client.post("/api/conversations", { handles: [b.user.handle] });
  return { a, b, conv: res.json.conversation.id as string };
}

async function readEvents(userId: string) {
  const replay = await api.deps.events.replayAfter(userId, 0, null);
  if (!replay.ok) throw new Error(replay.reason);
  return replay.frames.map((f) => JSON.parse(f)).filter((e) => e.kind === "read") as { data: { upToMessageId: string } }[];
}

describe("text Postgres cannot store", () => {
  test("a NUL or a lone surrogate in a body is 400, and the sends around it are written", async () => {
    const { a, b, conv } = await pair();
    const send = (client: typeof a.client, body: string) => client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body });
    const results = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => send(b.client, `ok ${i}`)),
      send(a.client, "nul \u0000 inside"),
      send(a.client, "half an emoji \ud83d"),
      ...Array.from({ length: 10 }, (_, i) => send(b.client, `ok ${i + 10}`)),
    ]);
    const bad = results.slice(10, 12);
    for (const r of bad) {
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe("invalid");
    }
    for (const r of [...results.slice(0, 10), ...results.slice(12)]) expect(r.status).toBe(200);
    const history = await a.client.get(`/api/conversations/${conv}/messages?limit=100`);
    expect(history.json.messages).toHaveLength(20);
  });

  test("control characters in a body or a title, and a title that reads as the site's staff, are 400", async () => {
    const { a, conv } = await pair();
    for (const body of ["bell\u0007", "c1 \u0085 next line", "c1 \u009b csi"]) {
      const controls = await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body });
      expect(controls.status).toBe(400);
      expect(controls.json.error.message).toContain("control characters");
    }
    // text that spoofs or spills: invisible only, an override, marks piled on one letter
    for (const body of ["\u200b\u200b", "\u3164", "see http://example.com/\u202efdp.exe", `a${"\u0301".repeat(300)}`]) {
      const res = await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body });
      expect({ body, status: res.status, code: res.json.error?.code }).toEqual({ body, status: 400, code: "invalid" });
    }
    // what scripts write: Vietnamese stacked tones, Hebrew with an isolate, an emoji sequence
    for (const body of ["Tiếng Việt", "שלום \u2067abc\u2069", "👩‍👩‍👧‍👦 🇫🇷"]) {
      expect({ body, status: (await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body })).status }).toEqual({ body, status: 200 });
    }
    // tabs and line breaks are text
    expect((await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "one\ttwo\r\nthree" })).status).toBe(200);
    const b = await registeredClient(api);
    const c = await registeredClient(api);
    for (const title of ["Xplicit Support Team", "✔ Official Staff", "Administrator"]) {
      const res = await a.client.post("/api/conversations", { handles: [b.user.handle, c.user.handle], title });
      expect({ title, status: res.status, code: res.json.error?.code }).toEqual({ title, status: 400, code: "title_reserved" });
    }
    expect((await a.client.post("/api/conversations", { handles: [b.user.handle, c.user.handle], title: "bell\u0007" })).status).toBe(400);
    expect((await a.client.post("/api/conversations", { handles: [b.user.handle, c.user.handle], title: "Explicit lyrics club" })).status).toBe(201);
  });

  test("an id with leading zeros is 400, not another spelling of the conversation", async () => {
    const { a, conv } = await pair();
    const padded = `000${conv}`;
    const send = await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: padded, body: "hi" });
    expect([send.status, send.json.error.code]).toEqual([400, "invalid"]);
    expect((await a.client.post(`/api/conversations/${padded}/read`, { upToMessageId: "1" })).status).toBe(400);
    expect((await a.client.get(`/api/conversations/${padded}/messages`)).status).toBe(400);
    expect((await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "hi" })).status).toBe(200);
  });

  test("a conversation of two takes no title (the other member's name is its name)", async () => {
    const [a, b] = [await registeredClient(api), await registeredClient(api)];
    const titled = await a.client.post("/api/conversations", { handles: [b.user.handle], title: "Your bank: verify your account" });
    expect([titled.status, titled.json.error.code]).toEqual([400, "title_for_direct"]);
    expect((await a.client.post("/api/conversations", { handles: [b.user.handle], title: "  " })).status).toBe(201);
  });

  test("a NUL in a group title is 400", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    const c = await registeredClient(api);
    const res = await a.client.post("/api/conversations", { handles: [b.user.handle, c.user.handle], title: "nul\u0000" });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid");
    expect((await b.client.get("/api/conversations")).json.conversations).toEqual([]);
  });
});

describe("read markers", () => {
  test("never past the last message, and a read that moves nothing appends no event", async () => {
    const { a, b, conv } = await pair();
    // b has written here: b's read marker is shown to a (a stranger b never answered would see "0")
    expect((await b.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "hi" })).status).toBe(200);
    const sent = await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "read me" });
    const messageId = sent.json.messageId as string;

    expect((await b.client.post(`/api/conversations/${conv}/read`, { upToMessageId: "999999999999999999" })).status).toBe(200);
    const list = await b.client.get("/api/conversations");
    expect(list.json.conversations[0].lastReadMessageId).toBe(messageId);
    // A sees B's marker among the members (for "Seen"), and its own "0" there and at the top level.
    const aList = (await a.client.get("/api/conversations")).json.conversations;
    const aConv = aList.find((c: { id: string }) => c.id === conv);
    const marker = (userId: string) => aConv.members.find((m: { id: string }) => m.id === userId)?.lastReadMessageId;
    expect(marker(b.user.id)).toBe(messageId);
    expect(marker(a.user.id)).toBe("0");
    expect(aConv.lastReadMessageId).toBe("0");
    expect(list.json.conversations[0].members.find((m: { id: string }) => m.id === b.user.id).lastReadMessageId).toBe(messageId);
    expect((await readEvents(a.user.id)).map((e) => e.data.upToMessageId)).toEqual([messageId]);

    // repeats (and reads behind the marker) change nothing and tell nobody
    for (let i = 0; i < 20; i++) {
      expect((await b.client.post(`/api/conversations/${conv}/read`, { upToMessageId: i % 2 ? messageId : "1" })).status).toBe(200);
    }
    expect(await readEvents(a.user.id)).toHaveLength(1);
    expect(await readEvents(b.user.id)).toHaveLength(1);

    const stranger = await registeredClient(api);
    const refused = await stranger.client.post(`/api/conversations/${conv}/read`, { upToMessageId: messageId });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe("not_member");
  });

  test("a marker lands only on a message of the conversation: stepping it one id at a time tells the others once per message, not once per id", async () => {
    const { a, b, conv } = await pair();
    const other = await pair();
    const send = async (client: typeof a.client, conversationId: string, body: string) =>
      BigInt((await client.post("/api/messages", { id: crypto.randomUUID(), conversationId, body })).json.messageId);
    // ids are global: the other conversation's messages fall between this one's
    const ids: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await send(i === 0 ? b.client : a.client, conv, `m${i}`));
      await send(other.a.client, other.conv, `x${i}`);
    }
    const before = (await readEvents(a.user.id)).length;
    for (let id = 1n; id <= ids[2]! + 6n; id++) {
      expect((await b.client.post(`/api/conversations/${conv}/read`, { upToMessageId: String(id) })).status).toBe(200);
    }
    const told = (await readEvents(a.user.id)).slice(before).map((e) => e.data.upToMessageId);
    expect(told).toEqual(ids.map(String));
    const mine = (await b.client.get("/api/conversations")).json.conversations.find((c: { id: string }) => c.id === conv);
    expect(mine.lastReadMessageId).toBe(String(ids[2]));
  });
});

describe("per-member write limits", () => {
  test(`more than ${HTTP_SENDS_PER_10S} HTTP sends in 10 s are 429 with Retry-After; other members are not affected`, async () => {
    const { a, b, conv } = await pair();
    const send = (client: typeof a.client) => client.post("/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "hi" });
    const statuses: number[] = [];
    for (let i = 0; i < HTTP_SENDS_PER_10S + 5; i += 25) {
      statuses.push(...(await Promise.all(Array.from({ length: 25 }, () => send(a.client)))).map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(HTTP_SENDS_PER_10S);
    const limited = await send(a.client);
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await send(b.client)).status).toBe(200);
  });

  test(`more than ${CONVERSATION_LISTS_PER_10S} conversation list reads in 10 s are 429; one conversation is still answered`, async () => {
    const { a, conv } = await pair();
    const statuses: number[] = [];
    for (let i = 0; i < CONVERSATION_LISTS_PER_10S; i += 25) statuses.push(...(await Promise.all(Array.from({ length: 25 }, () => a.client.get("/api/conversations")))).map((r) => r.status));
    expect(statuses.every((st) => st === 200)).toBe(true);
    const limited = await a.client.get("/api/conversations");
    expect(limited.status).toBe(429);
    expect((await a.client.get(`/api/conversations/${conv}`)).status).toBe(200);
    // the unread count costs as much as a list: a budget of its own, the same size
    const counts: number[] = [];
    for (let i = 0; i < CONVERSATION_LISTS_PER_10S; i += 25) counts.push(...(await Promise.all(Array.from({ length: 25 }, () => a.client.get("/api/conversations/unread-count")))).map((r) => r.status));
    expect(counts.every((st) => st === 200)).toBe(true);
    expect((await a.client.get("/api/conversations/unread-count")).status).toBe(429);
  });

  test(`more than ${NEW_CONVERSATIONS_PER_10MIN} conversation requests in 10 minutes are 429`, async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    const open = () => a.client.post("/api/conversations", { handles: [b.user.handle] });
    const statuses: number[] = [];
    for (let i = 0; i < NEW_CONVERSATIONS_PER_10MIN; i += 20) statuses.push(...(await Promise.all(Array.from({ length: 20 }, open))).map((r) => r.status));
    expect(statuses.every((s) => s === 200 || s === 201)).toBe(true);
    const limited = await open();
    expect(limited.status).toBe(429);
    expect(limited.json.error.message).toContain("conversations");
  });
});

describe("history with a blocked group member", () => {
  test("a page looks through at most 10 × limit messages for ones the viewer may see; paging on from nextBefore shows every other message once, in order", async () => {
    const [a, b, c] = [await registeredClient(api), await registeredClient(api), await registeredClient(api)];
    const conv = (await a.client.post("/api/conversations", { handles: [b.user.handle, c.user.handle] })).json.conversation.id as string;
    const sql = api.deps.sql;
    // c's five, then 120 of b's (written directly: the HTTP send budget is beside the point here)
    await sql`insert into messages (conversation_id, sender_id, client_msg_id, body)
      select ${conv}, ${c.user.id}, gen_random_uuid(), 'c' || n from generate_series(1, 5) n`;
    await sql`insert into messages (conversation_id, sender_id, client_msg_id, body)
      select ${conv}, ${b.user.id}, gen_random_uuid(), 'b' || n from generate_series(1, 120) n`;
    expect((await a.client.post(`/api/users/${b.user.handle}/block`)).status).toBe(200);

    const pages: { messages: { body: string }[]; nextBefore: string | null }[] = [];
    let before: string | null = null;
    do {
      const res = await a.client.get(`/api/conversations/${conv}/messages?limit=5${before ? `&before=${before}` : ""}`);
      expect(res.status).toBe(200);
      pages.push(res.json);
      before = res.json.nextBefore;
    } while (before && pages.length < 10);
    // 50 of b's looked through per page: two empty pages, then c's five
    expect(pages.map((p) => p.messages.length)).toEqual([0, 0, 5]);
    expect(pages.flatMap((p) => p.messages.map((m) => m.body))).toEqual(["c5", "c4", "c3", "c2", "c1"]);
    expect(pages.at(-1)!.nextBefore).toBe(null);
  });
});
