/**
 * The hub's repair and recovery passes against real Redis and Postgres. The hub's two Redis
 * connections go through small TCP relays in this test, so Redis can be made to stop answering
 * (commands are held, as by a Redis that is slow or away) or the subscriber's connection can be
 * dropped (ioredis reconnects: what a Redis restart looks like to a replica), and every command a
 * connection sends is counted on the way.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "@xplicit/shared/config";
import { createDb } from "@xplicit/shared/db";
import { createEventStream } from "@xplicit/shared/modules/events";
import { conversationInfo, createConversation } from "@xplicit/shared/modules/messages";
import { createUnreadCounter } from "@xplicit/shared/modules/notifications";
import { createPresence } from "@xplicit/shared/modules/presence";
import { createRedis, redisKeys, type Redis } from "@xplicit/shared/redis";
import { createSessionStore, hashSessionToken, sessionRevokedChannel } from "@xplicit/shared/sessions";
import { redisRelay } from "../../../../../tests/harness/redis-relay.ts";
import { seedMembers } from "../../../../../tests/notifications/seed.ts";
import type { ChatDeps } from "../../deps.ts";
import { createPubSubProbe } from "../health/pubsub-probe.ts";
import { Connection } from "./connection.ts";
import { Hub } from "./hub.ts";

setDefaultTimeout(60_000);

type Relay = Awaited<ReturnType<typeof redisRelay>>;

/** A socket that takes every frame and drops it, reporting a close to `onClose`. */
function quietSocket(onClose: (code: number) => void = () => {}): Connection["ws"] {
  return { send: () => 0, getBufferedAmount: () => 0, close: (code: number) => void onClose(code), cork: (f: () => void) => f() } as never;
}

/** A live socket of `userId` at its stream's head, noting the seq of each event written to it in `events`. */
async function liveSocket(userId: string, events: number[] = []): Promise<Connection> {
  const conn = new Connection(hub, { userId, sessionId: "1", token: "t" });
  conn.ws = { ...quietSocket(), send: (t: string) => void (t.includes('"type":"event"') && events.push(JSON.parse(t).seq)) } as never;
  hub.track(conn);
  await hub.attach(conn);
  conn.state = "live";
  conn.cursor = (await hub.deps.events.head(userId)).seq;
  return conn;
}

/** A RESP command name as ioredis writes it. */
const command = (name: string) => `$${name.length}\r\n${name}\r\n`;

let subRelay: Relay;
let cmdRelay: Relay;
let redis: Redis;
let subscriber: Redis;
let sql: ReturnType<typeof createDb>;
let hub: Hub;
let memberIds: string[];

beforeAll(async () => {
  const config = loadConfig({ ...process.env, CHAT_REPLICA_NAME: `hub-test-${crypto.randomUUID().slice(0, 8)}` });
  subRelay = await redisRelay(config.redisUrl);
  cmdRelay = await redisRelay(config.redisUrl);
  sql = createDb(config.databaseUrl, { max: 2 });
  redis = createRedis(cmdRelay.url, "hub-test");
  subscriber = createRedis(subRelay.url, "hub-test:sub", { maxRetriesPerRequest: null });
  const keys = redisKeys(`${config.redisPrefix}hub-test:`);
  const events = createEventStream({ redis, keys, maxEvents: 100, maxAgeSeconds: 3600 });
  const deps: ChatDeps = {
    config,
    sql,
    redis,
    subscriber,
    keys,
    sessions: createSessionStore({ sql, redis, keys, ...config.session }),
    events,
    presence: createPresence({ redis, keys }),
    unread: createUnreadCounter({ sql, redis, keys }),
    messaging: { sql, redis, keys, events, maxBodyChars: 4000 },
  };
  hub = new Hub(deps);
  await hub.start();
  // Two members with a live socket each (nothing is ever replayed to them here: a socket that drops what it gets).
  memberIds = await seedMembers(sql, 2);
  for (const userId of memberIds) {
    const conn = new Connection(hub, { userId, sessionId: "1", token: "t" });
    conn.ws = quietSocket();
    hub.track(conn);
    await hub.attach(conn);
    conn.state = "live";
    await events.head(userId);
  }
  // the presence write attach started in the background is done
  for (const userId of memberIds) await until("presence", async () => (await redis.exists(keys.online(userId))) === 1);
});

afterAll(async () => {
  subRelay?.releaseReplies();
  subRelay?.release();
  cmdRelay?.release();
  subscriber?.disconnect();
  redis?.disconnect();
  subRelay?.close();
  cmdRelay?.close();
  await sql?.end();
});

/** Resolves to true if `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), Bun.sleep(ms).then(() => false)]);
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await check()); await Bun.sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/** Recovery passes so far: each writes presence for every member held here, then reads each stream's head. */
function passes() {
  const { keys } = hub.deps;
  return { presence: cmdRelay.count(`${keys.presence(memberIds[0]!)}\r\n`), heads: cmdRelay.count(`${keys.memberSeq(memberIds[0]!)}\r\n`) };
}

test("a repair while another is waiting for Redis returns at once and starts nothing; a later one runs again", async () => {
  const revoked = sessionRevokedChannel(hub.deps.keys);
  const subscribes = () => subRelay.count(command("subscribe"));
  const repairs = () => subRelay.count(revoked);
  const before = { subscribes: subscribes(), repairs: repairs(), passes: passes() };

  subRelay.hold();
  const first = hub.repairSubscriptions();
  try {
    await until("the first repair's SUBSCRIBE", () => repairs() === before.repairs + 1);
    // what the pub/sub probe does on every stale tick while the first SUBSCRIBE waits
    const further: Promise<void>[] = [];
    for (let i = 0; i < 5; i++, await Bun.sleep(100)) further.push(hub.repairSubscriptions());
    await Bun.sleep(300);
    expect(subscribes()).toBe(before.subscribes + 1);
    expect(repairs()).toBe(before.repairs + 1);
    expect(passes()).toEqual(before.passes);
    expect(await settlesWithin(Promise.all(further), 1_000)).toBe(true);
    expect(await settlesWithin(first, 0)).toBe(false);
  } finally {
    subRelay.release();
  }
  await first;
  // the first repair subscribed every member's channel in its one SUBSCRIBE, then refilled every socket once
  for (const id of memberIds) expect(subRelay.count(`${hub.deps.keys.memberChannel(id)}\r\n`)).toBe(2);
  expect(passes()).toEqual({ presence: before.passes.presence + 1, heads: before.passes.heads + 1 });

  // the running repair ended: the next call is a repair of its own
  await hub.repairSubscriptions();
  expect(repairs()).toBe(before.repairs + 2);
  expect(passes()).toEqual({ presence: before.passes.presence + 2, heads: before.passes.heads + 2 });
});

test("recovery runs one pass at a time; requests during a pass get exactly one more pass after it", async () => {
  const readies = { n: 0 };
  subscriber.on("ready", () => readies.n++);
  const reconnect = async () => {
    const n = readies.n;
    subRelay.cut();
    await until("the subscriber to reconnect", () => readies.n > n);
  };
  const before = passes();

  // Redis stops answering the command connection: the first pass waits in its presence write.
  cmdRelay.hold();
  try {
    await reconnect();
    await until("the first pass to start", () => passes().presence === before.presence + 1);
    // more reconnects while that pass is stuck: no pass starts beside it
    for (let i = 0; i < 3; i++) await reconnect();
    await Bun.sleep(300);
    expect(passes()).toEqual({ presence: before.presence + 1, heads: before.heads });
  } finally {
    cmdRelay.release();
  }
  await until("a second pass", () => passes().heads === before.heads + 2);
  await Bun.sleep(1_000);
  expect(passes()).toEqual({ presence: before.presence + 2, heads: before.heads + 2 });

  // with no pass running, a reconnect gets a pass of its own
  await reconnect();
  await until("a third pass", () => passes().heads === before.heads + 3);
  await Bun.sleep(500);
  expect(passes()).toEqual({ presence: before.presence + 3, heads: before.heads + 3 });
});

test("a sender's own event goes out in the same write as its sent answer, without waiting for pub/sub; the pub/sub copy is then dropped", async () => {
  const [a, b] = memberIds as [string, string];
  const [created] = await sql<{ id: string }[]>`
    insert into conversations (kind, direct_key, created_by) values ('direct', ${`hub-test:${a}:${b}`}, ${a}) returning id`;
  const conversationId = created!.id;
  await sql`insert into conversation_members (conversation_id, user_id) values (${conversationId}, ${a}), (${conversationId}, ${b})`;
  // what the socket writes, one entry per syscall: a cork's frames together
  const writes: string[][] = [];
  let corked: string[] | null = null;
  const conn = new Connection(hub, { userId: a, sessionId: "1", token: "t" });
  conn.ws = {
    send: (t: string) => void (corked ? corked.push(t) : writes.push([t])),
    cork: (f: () => void) => {
      corked = [];
      f();
      writes.push(corked);
      corked = null;
    },
    getBufferedAmount: () => 0,
    close() {},
  } as never;
  hub.track(conn);
  await hub.attach(conn);
  conn.state = "live";
  conn.cursor = (await hub.deps.events.head(a)).seq;

  subRelay.holdReplies();
  try {
    conn.received(JSON.stringify({ type: "send", id: crypto.randomUUID(), conversationId, body: "mine" }));
    await until("the answer", () => writes.some((w) => w.some((f) => f.includes('"type":"sent"'))));
    const [write] = writes.filter((w) => w.some((f) => f.includes('"type":"sent"')));
    const [sent, event] = write!.map((f) => JSON.parse(f));
    expect(sent).toMatchObject({ type: "sent", seq: conn.cursor });
    expect(event).toMatchObject({ type: "event", seq: sent.seq, kind: "message", data: { body: "mine", clientMsgId: sent.id } });
  } finally {
    subRelay.releaseReplies();
  }
  const cursor = conn.cursor;
  await Bun.sleep(300);
  // the pub/sub copy came and went: nothing more was written
  expect(writes.flat().filter((f) => f.includes('"type":"event"'))).toHaveLength(1);
  expect(conn.cursor).toBe(cursor);
  conn.closed();
});

test("an own event ahead of the cursor waits for the events before it from pub/sub, and reads them from the log only when they do not come", async () => {
  const a = memberIds[0]!;
  const written: number[] = [];
  const conn = await liveSocket(a, written);
  /** Two events appended while pub/sub is held back; the second is handed to the socket as its own. */
  const twoEventsHeldBack = async () => {
    subRelay.holdReplies();
    const first = await hub.deps.events.append({ userId: a, kind: "read", data: {} });
    const second = await hub.deps.events.append({ userId: a, kind: "read", data: {} });
    const [, own] = await hub.deps.events.range(a, first.seq - 1, second.seq);
    return { seqs: [first.seq, second.seq], own: own!, logReads: cmdRelay.count(command("xrange")) };
  };
  try {
    // The event before it comes in time: both written in order, the log not read.
    const early = await twoEventsHeldBack();
    conn.deliverOwnEvent(early.own);
    await Bun.sleep(50);
    expect(written).toEqual([]);
    subRelay.releaseReplies();
    await until("both events", () => written.length === 2);
    expect(written).toEqual(early.seqs);
    await Bun.sleep(350);
    expect(cmdRelay.count(command("xrange"))).toBe(early.logReads);

    // It does not come: read from the log after the wait, then the late pub/sub copies are dropped.
    const late = await twoEventsHeldBack();
    conn.deliverOwnEvent(late.own);
    await until("the log read", () => written.length === 4, 2_000);
    expect(written.slice(2)).toEqual(late.seqs);
    expect(cmdRelay.count(command("xrange"))).toBe(late.logReads + 1);
    subRelay.releaseReplies();
    await Bun.sleep(200);
    expect(written).toHaveLength(4);
  } finally {
    subRelay.releaseReplies();
    conn.closed();
  }
});

test("an own event reaches the sender's other socket here even when the sending socket closed before the reply", async () => {
  const [a] = (await seedMembers(sql, 1)) as [string]; // (one with no other socket here)
  const got: number[] = [];
  const sending = await liveSocket(a);
  const other = await liveSocket(a, got);
  // (pub/sub held back: what the other socket gets here is what the replica writes itself)
  subRelay.holdReplies();
  try {
    const appended = await hub.deps.events.append({ userId: a, kind: "read", data: {} });
    const [own] = await hub.deps.events.range(a, appended.seq - 1, appended.seq);
    sending.closed(); // the group is now the other socket alone
    hub.deliverToOtherSockets(sending, own!);
    expect(got).toEqual([appended.seq]);
  } finally {
    subRelay.releaseReplies();
    other.closed();
  }
});

test("the periodic session check closes the sockets whose session ended without an announcement, in one pass, and no other", async () => {
  const [userId] = memberIds as [string];
  const { sessions, keys } = hub.deps;
  const closed = new Map<Connection, number>();
  const open = async () => {
    const s = await sessions.create(userId, { userAgent: "hub-test", ip: "127.0.0.1" });
    const conn = new Connection(hub, { userId, sessionId: s.sessionId, token: s.token });
    conn.ws = quietSocket((code) => closed.set(conn, code));
    hub.track(conn);
    return { conn, s };
  };
  const ended = await open();
  const alive = await open();
  // the session ended in Postgres, and the cache entry and the revocation message were lost
  await sql`update sessions set revoked_at = now() where id = ${ended.s.sessionId}`;
  await redis.del(keys.session(hashSessionToken(ended.s.token).toString("hex")));
  const before = cmdRelay.count(command("getex"));
  await Promise.all([hub.revalidateSessions(), hub.revalidateSessions()]);
  expect(closed.get(ended.conn)).toBe(1008);
  expect(closed.has(alive.conn)).toBe(false);
  // one pass (the second call found it running): each of the two sessions read once (the other
  // sockets here carry no well-formed token, so they are never looked up)
  expect(cmdRelay.count(command("getex")) - before).toBe(2);
  for (const { conn } of [ended, alive]) conn.closed();
});

test("every socket's acks reach Redis together, in one command per flush, and a stored ack never moves back", async () => {
  const { events } = hub.deps;
  const clients = Array.from({ length: 50 }, (_, i) => ({ userId: memberIds[i % 2]!, clientId: `acks-${crypto.randomUUID().slice(0, 8)}-${i}` }));
  await hub.acks.flush();
  // (ioredis sends a script's text the first time on a connection, its SHA afterwards)
  const scriptCalls = () => cmdRelay.count(command("evalsha")) + cmdRelay.count(command("eval"));
  const epochs = new Map(await Promise.all(memberIds.slice(0, 2).map(async (id) => [id!, (await events.head(id!)).epoch] as const)));
  const before = scriptCalls();
  clients.forEach((c, i) => {
    hub.acks.note(c.userId, c.clientId, 10 + i, epochs.get(c.userId)!);
    hub.acks.note(c.userId, c.clientId, 5, epochs.get(c.userId)!); // an older ack arriving late
  });
  await hub.acks.flush();
  expect(scriptCalls() - before).toBe(1);
  const seqs = async () => (await Promise.all(clients.map((c) => events.loadAck(c.userId, c.clientId)))).map((a) => a?.seq);
  expect(await seqs()).toEqual(clients.map((_, i) => 10 + i));
  const first = clients[0]!;
  hub.acks.note(first.userId, first.clientId, 3, epochs.get(first.userId)!);
  await hub.acks.flush();
  expect(await events.loadAck(first.userId, first.clientId)).toEqual({ seq: 10, epoch: epochs.get(first.userId)! });
  // an ack counted in a stream Redis no longer has (buffered across a restart) is dropped, however high
  hub.acks.note(first.userId, first.clientId, 900, "lost-epoch");
  await hub.acks.flush();
  expect(await events.loadAck(first.userId, first.clientId)).toEqual({ seq: 10, epoch: epochs.get(first.userId)! });
});

test("a send whose reply from Redis was lost still brings the sender's own event here, from the log", async () => {
  const [a] = (await seedMembers(sql, 1)) as [string];
  const b = memberIds[1]!;
  const [created] = await sql<{ id: string }[]>`
    insert into conversations (kind, direct_key, created_by) values ('direct', ${`hub-test:${a}:${b}`}, ${a}) returning id`;
  await sql`insert into conversation_members (conversation_id, user_id) values (${created!.id}, ${a}), (${created!.id}, ${b})`;
  const got: number[] = [];
  const sent: number[] = [];
  const conn = await liveSocket(a, got);
  const send = conn.ws!.send.bind(conn.ws);
  conn.ws = { ...conn.ws!, send: (t: string) => (t.includes('"type":"sent"') && sent.push(JSON.parse(t).seq), send(t)) } as never;
  // As a chat replica: a's only sockets are here, so the append is not published.
  const messaging = hub.deps.messaging;
  messaging.replicaName = hub.deps.config.chat.replicaName;
  const direct = createRedis(hub.deps.config.redisUrl, "hub-test:direct");
  const id = crypto.randomUUID();
  try {
    await until("a's presence", async () => (await direct.hget(hub.deps.keys.presence(a), messaging.replicaName!)) !== null);
    // The append runs in Redis, its reply never reaches the replica: ioredis sends it again on a
    // new connection, and the script answers with the stored answer instead of the event frame.
    cmdRelay.holdReplies();
    conn.received(JSON.stringify({ type: "send", id, conversationId: created!.id, body: "mine" }));
    await until("the append", async () => (await direct.exists(hub.deps.keys.sendDedup(a, id))) === 1);
    cmdRelay.cut();
    cmdRelay.releaseReplies();
    await until("the answer", () => sent.length === 1);
    await until("the own event", () => got.length === 1, 2_000);
    expect(got).toEqual(sent);
    expect(conn.cursor).toBe(sent[0]!);
  } finally {
    cmdRelay.releaseReplies();
    delete messaging.replicaName;
    direct.disconnect();
    conn.closed();
  }
});

test("after a reconnect, a head read before live events moved the cursor past it is no loss: no resync; a head really behind it is", async () => {
  const [userId] = (await seedMembers(sql, 1)) as [string];
  const { events } = hub.deps;
  await events.appendMany(Array.from({ length: 3 }, () => ({ userId, kind: "read" as const, data: { n: 1 } })));
  const stale = await events.head(userId); // read for all of the member's sockets, then events came
  const conn = await liveSocket(userId);
  const frames: string[] = [];
  conn.ws = { ...quietSocket(), send: (t: string) => void frames.push(t) } as never;
  await events.appendMany([{ userId, kind: "read" as const, data: { n: 2 } }]);
  conn.cursor = stale.seq + 1; // what live delivery did meanwhile
  conn.epoch = stale.epoch;
  const resyncs = () => frames.filter((f) => f.includes('"type":"resync"')).length;
  await conn.recoverAfterRedisReconnect(stale);
  expect(resyncs()).toBe(0);
  expect(conn.cursor).toBe(stale.seq + 1);

  // the stream really went back (a Redis that kept its data but not its last writes)
  await hub.deps.redis.set(hub.deps.keys.memberSeq(userId), String(stale.seq - 1));
  await conn.recoverAfterRedisReconnect(await events.head(userId));
  expect(resyncs()).toBe(1);
  conn.closed();
});

test("a repair of a stale pub/sub forgets the membership cache and the presence lists: what it missed is read again", async () => {
  const [a, b] = (await seedMembers(sql, 2)) as [string, string];
  expect(await hub.presenceLists.audienceAmong(a, [b])).toEqual([]); // cached: no conversation yet
  const conv = await createConversation(hub.deps.messaging, a, [b]);
  expect((await conversationInfo(hub.deps.messaging, conv.id, b))?.members).toContain(b);
  await hub.repairSubscriptions();
  expect(await hub.presenceLists.audienceAmong(a, [b])).toEqual([b]); // read again: a made the conversation

  // a change whose announcement this replica never heard (its pub/sub was stale)
  expect((await conversationInfo(hub.deps.messaging, conv.id, b))?.members).toContain(b); // cached again
  await sql`delete from conversation_members where conversation_id = ${conv.id} and user_id = ${b}`;
  expect((await conversationInfo(hub.deps.messaging, conv.id, b))?.members).toContain(b); // still cached
  await hub.repairSubscriptions();
  expect(await conversationInfo(hub.deps.messaging, conv.id, b)).toBeNull();
});

test("a half-open subscriber connection (silent both ways, no error) is dropped and made again: the pub/sub round trip comes back", async () => {
  const probe = createPubSubProbe(hub.deps, { intervalMs: 100, staleAfterMs: 400, onStale: () => hub.repairSubscriptions() });
  await probe.start();
  const healthy = async () => probe.check().then(() => true, () => false);
  await until("a first round trip", healthy);
  subRelay.freezeOpen();
  await until("the probe to go stale", async () => !(await healthy()), 5_000);
  // subscribing again on the silent connection answers nothing; a new connection does
  await until("a round trip on a new connection", healthy, 10_000);
  probe.stop();
});

test("after Redis came back, live events wait until a socket's stream is checked: an epoch change resyncs once and no seq is written twice", async () => {
  const [userId] = (await seedMembers(sql, 1)) as [string];
  const seqs: number[] = [];
  const conn = await liveSocket(userId, seqs);
  const resyncs: string[] = [];
  const write = conn.ws!.send.bind(conn.ws);
  conn.ws = { ...conn.ws!, send: (t: string) => (t.includes('"type":"resync"') && resyncs.push(t), write(t)) } as never;
  const { events, keys } = hub.deps;
  for (let i = 0; i < 3; i++) await events.append({ userId, kind: "message", data: { before: i } });
  await until("3 live events", () => seqs.length === 3);
  // the restart: this member's stream is in another epoch now
  await redis.set(keys.memberEpoch(userId), "after-the-restart");
  // the head is read, then two events are written and published before the check gets to it
  const realHead = events.head;
  events.head = async (id: string) => {
    const head = await realHead(id);
    if (id === userId) {
      for (let i = 0; i < 2; i++) await events.append({ userId, kind: "message", data: { meanwhile: i } });
      await Bun.sleep(200); // (their pub/sub delivery reaches the socket meanwhile)
    }
    return head;
  };
  try {
    await (hub as unknown as { recoverStreams(): Promise<void> }).recoverStreams();
  } finally {
    events.head = realHead;
  }
  await events.append({ userId, kind: "message", data: { after: true } });
  await until("the event after the check", () => seqs.includes(6));
  expect(resyncs).toHaveLength(1);
  expect(JSON.parse(resyncs[0]!)).toMatchObject({ reason: "epoch_changed", cursor: 3 });
  expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
});
