/** The write path against real Postgres and Redis: grouping, dedupe, mutes, unread counter, live events. */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createEventStream } from "../events/index.ts";
import { createPresence } from "../presence/index.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createUnreadCounter } from "./unread.ts";
import { setMutedTypes } from "./settings.ts";
import { bucketStart, writeNotification, type WriteDeps } from "./write.ts";
import { countUnread, forgetOldCountedEvents, insertBatch, listForMember, markRead } from "./store.ts";
import { deliver } from "./deliver.ts";
import { runBatches } from "./batches.ts";
import type { NotifyJobData } from "./queues.ts";

/** A member's own epoch and the streams' generation (a new one for each Redis run). */
const EPOCH_SHAPE = /^[0-9a-f]{8}\.[0-9a-f]{8}$/;

// real Postgres, Redis and BullMQ on a shared machine: allow for slow moments
setDefaultTimeout(60_000);

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 4 });
const redis = createRedis(config.redisUrl, "test-notifications");
const keys = redisKeys(config.redisPrefix);
const events = createEventStream({ redis, keys, maxEvents: 1000, maxAgeSeconds: 3600 });
const presence = createPresence({ redis, keys });
const unread = createUnreadCounter({ sql, redis, keys });
const deps: WriteDeps = { sql, redis, keys, events, presence, unread, groupWindowSeconds: 3600 };

afterAll(async () => {
  redis.disconnect();
  await sql.end();
});

const HOUR = 3600_000;
const base = bucketStart(Date.now(), 3600).getTime() + 60_000;

function follow(recipientId: string, actorId: string, at = base): NotifyJobData {
  return { recipientId, type: "follow", actorId, subjectId: recipientId, dedupeKey: `follow:${actorId}`, occurredAt: at };
}

async function notificationEvents(userId: string) {
  const replay = await events.replayAfter(userId, 0, null);
  if (!replay.ok) return [];
  return replay.frames.map((f) => JSON.parse(`{${f.slice(f.indexOf('"ts"'))}`) as { kind: string; data: { notification: { id: string; count: number }; unread: number } });
}

describe("grouping", () => {
  let members: string[];
  beforeAll(async () => {
    members = await seedMembers(sql, 25);
  });

  test("follows that start a group at the same moment count one unread row, not one each", async () => {
    const me = members[22]!;
    const fans = await seedMembers(sql, 12);
    await unread.get([me]); // cached at 0, as for a member who is online
    for (let round = 0; round < 3; round++) {
      const at = base + round * HOUR;
      await Promise.all(fans.map((fan, i) => writeNotification(deps, { ...follow(me, fan, at + i), dedupeKey: `follow:${fan}:${round}` })));
      expect((await countUnread(sql, [me])).get(me)).toBe(round + 1);
      expect(await unread.getOne(me)).toBe(round + 1);
    }
  });

  test("20 follows in one window collapse into one row with the count and the latest actors", async () => {
    const [me, ...fans] = members as [string, ...string[]];
    for (const [i, fan] of fans.slice(0, 20).entries()) {
      expect((await writeNotification(deps, follow(me, fan, base + i * 1000))).result).toBe("written");
    }
    const rows = await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.count).toBe(20);
    expect(rows[0]!.actorIds).toEqual([fans[19]!, fans[18]!, fans[17]!]);
    expect(rows[0]!.actorId).toBe(fans[19]!);

    // a late job (an older event, retried or run by a slower worker) counts, but does not lead
    expect((await writeNotification(deps, follow(me, fans[21]!, base - 1000))).result).toBe("written");
    const late = await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null });
    expect(late[0]!.count).toBe(21);
    expect(late[0]!.actorId).toBe(fans[19]!);
    expect(late[0]!.actorIds).toEqual([fans[19]!, fans[18]!, fans[17]!]);

    // a retried job (same event) changes nothing
    expect((await writeNotification(deps, follow(me, fans[5]!, base + 5000))).result).toBe("duplicate");
    expect((await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null }))[0]!.count).toBe(21);

    // the next window starts a new row
    await writeNotification(deps, follow(me, fans[20]!, base + HOUR));
    const after = await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null });
    expect(after.map((r) => r.count)).toEqual([1, 21]);
  });

  test("a job re-run after more newer events joined its group than the row remembers keys for still counts once", async () => {
    const [me] = (await seedMembers(sql, 1)) as [string];
    const fans = await seedMembers(sql, 40);
    for (const [i, fan] of fans.entries()) await writeNotification(deps, follow(me, fan, base + i * 1000));
    // the first job again (a worker killed after its write; its job taken over later): 39 newer keys since
    expect((await writeNotification(deps, follow(me, fans[0]!, base))).result).toBe("duplicate");
    expect((await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null }))[0]!.count).toBe(40);
  });

  test("a job killed between its commit and anything after it, re-run once 39 newer events joined the group, still counts once", async () => {
    const [me] = (await seedMembers(sql, 1)) as [string];
    const fans = await seedMembers(sql, 40);
    for (const [i, fan] of fans.entries()) {
      await writeNotification(deps, follow(me, fan, base + i * 1000));
      // killed before it could mark the event counted in Redis, as the earlier versions did after the commit
      await redis.del(`${config.redisPrefix}notif:counted:${me}:follow:${fan}`);
    }
    // its key is no longer among the row's 32 newest: only the count's own record can tell
    expect((await writeNotification(deps, follow(me, fans[0]!, base))).result).toBe("duplicate");
    expect((await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null }))[0]!.count).toBe(40);
  });

  test("counted-event records older than a day go (the worker's daily job), younger ones stay", async () => {
    const [me] = (await seedMembers(sql, 1)) as [string];
    await sql`insert into notification_counted (user_id, event_key, counted_at) values (${me}, 'old', now() - interval '25 hours'), (${me}, 'young', now() - interval '23 hours')`;
    // more than one statement's batch
    await sql`insert into notification_counted (user_id, event_key, counted_at) select ${me}, 'old-' || n, now() - interval '2 days' from generate_series(1, 10050) n`;
    expect(await forgetOldCountedEvents(sql)).toBeGreaterThanOrEqual(10051);
    const left = await sql<{ event_key: string }[]>`select event_key from notification_counted where user_id = ${me} order by event_key`;
    expect(left.map((r) => r.event_key)).toEqual(["young"]);
  });

  test("a read group becomes unread again when it grows, and the counter follows", async () => {
    const [, , me, a, b] = members as string[] as [string, string, string, string, string];
    await writeNotification(deps, follow(me, a));
    expect(await unread.getOne(me)).toBe(1);
    const [row] = await listForMember(sql, me, { beforeSeq: null, limit: 1, type: null });
    const fence = await unread.fence([me]);
    expect(await markRead(sql, me, { ids: [row!.id] })).toBe(1);
    await fence.settle([{ userId: me, delta: -1 }]);
    expect(await unread.getOne(me)).toBe(0);
    await writeNotification(deps, follow(me, b));
    expect(await unread.getOne(me)).toBe(1);
    expect((await countUnread(sql, [me])).get(me)).toBe(1);
  });
});

describe("mutes", () => {
  test("a muted type writes nothing on the single and the batch path", async () => {
    const [me, other, actor] = (await seedMembers(sql, 3)) as [string, string, string];
    await setMutedTypes(sql, me, ["follow", "post"]);
    expect((await writeNotification(deps, follow(me, actor))).result).toBe("muted");
    const rows = await insertBatch(sql, { userIds: [me, other], type: "post", actorId: actor, subjectId: "1", dedupeKey: "post:1", occurredAt: new Date() });
    expect(rows.map((r) => r.userId)).toEqual([other]);
    expect(await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null })).toEqual([]);
    // unmuting lets the next event through
    await setMutedTypes(sql, me, []);
    expect((await writeNotification(deps, follow(me, actor))).result).toBe("written");
  });
});

describe("unread counter", () => {
  test("a missing counter is rebuilt from Postgres; writes never invent one", async () => {
    const [me, ...actors] = (await seedMembers(sql, 4)) as [string, ...string[]];
    await unread.invalidate(me);
    for (const [i, a] of actors.entries()) {
      await writeNotification(deps, { recipientId: me, type: "reaction", actorId: a, subjectId: String(100 + i), dedupeKey: `r:${i}`, occurredAt: base });
    }
    expect(await redis.get(keys.unread(me))).toBeNull();
    expect(await unread.getOne(me)).toBe(3);
    expect(await redis.get(keys.unread(me))).toBe("3");
  });
});

describe("live delivery", () => {
  test("an online recipient gets one notification event with the unread count; an offline one gets none", async () => {
    const [on, off, actor] = (await seedMembers(sql, 3)) as [string, string, string];
    await presence.connected(on, "test-replica");
    await writeNotification(deps, follow(on, actor));
    await writeNotification(deps, follow(off, actor));
    await writeNotification(deps, follow(on, actor)); // duplicate: no second event
    const evs = await notificationEvents(on);
    expect(evs).toHaveLength(1);
    expect(evs[0]!.kind).toBe("notification");
    expect(evs[0]!.data.unread).toBe(1);
    expect(evs[0]!.data.notification.count).toBe(1);
    expect(await notificationEvents(off)).toHaveLength(0);
    expect(await unread.getOne(off)).toBe(1);
    await presence.disconnected(on, "test-replica");
  });

  // Rolling deploy: a previous-version replica marks presence only in `presence:<member>`, not in
  // `online:<member>`, so its members are taken for offline until they reconnect to a new replica.
  test("a member whose only client is on a previous-version replica gets the row and the count; the live badge catches up after a reconnect", async () => {
    const [me, actor1, actor2] = (await seedMembers(sql, 3)) as [string, string, string];
    await redis.multi().hset(keys.presence(me), "chat-old", Math.floor(Date.now() / 1000) + 90).expire(keys.presence(me), 90).exec();
    expect((await writeNotification(deps, follow(me, actor1))).live).toBe(0);
    const [row] = await listForMember(sql, me, { beforeSeq: null, limit: 10, type: null });
    expect(row!.actorIds).toEqual([actor1]);
    expect(await unread.getOne(me)).toBe(1);
    expect(await notificationEvents(me)).toHaveLength(0);
    // on a new replica (which writes the online key) the next event carries the whole count
    await presence.connected(me, "test-replica");
    expect((await writeNotification(deps, { ...follow(me, actor2), type: "reaction", subjectId: me, dedupeKey: `reaction:${me}:${actor2}:like` })).live).toBe(1);
    const evs = await notificationEvents(me);
    expect(evs).toHaveLength(1);
    expect(evs[0]!.data.unread).toBe(2);
    await presence.disconnected(me, "test-replica");
  });
});

describe("batch writes", () => {
  test("a repeated or overlapping batch writes only the missing rows, exactly once each", async () => {
    const ids = await seedMembers(sql, 6);
    const w = { type: "post" as const, actorId: ids[0]!, subjectId: "77", dedupeKey: "post:batch:77", occurredAt: new Date(base) };
    const first = await insertBatch(sql, { ...w, userIds: ids.slice(0, 3) });
    expect(first.map((r) => r.userId)).toEqual(ids.slice(0, 3));
    // the same batch again (a resumed job): nothing new
    expect(await insertBatch(sql, { ...w, userIds: ids.slice(0, 3) })).toEqual([]);
    // overlapping, with the conflicts late in the batch: only the three new recipients
    const later = await insertBatch(sql, { ...w, userIds: [...ids.slice(3), ...ids.slice(0, 3)] });
    expect(later.map((r) => r.userId).sort()).toEqual(ids.slice(3).sort());
    const [n] = await sql<{ n: number }[]>`select count(*)::int as n from notifications where dedupe_key = ${w.dedupeKey}`;
    expect(n!.n).toBe(6);
  });

  test("a resumed page whose rows an earlier attempt wrote and never delivered: badges counted again, the event delivered", async () => {
    const [on, fresh] = (await seedMembers(sql, 2)) as [string, string];
    await presence.connected(on, "test-replica");
    expect(await unread.getOne(on)).toBe(0); // cached, as a replica leaves it for an online member
    const template = {
      type: "post" as const, actorId: null, subjectId: "31", dedupeKey: `post:${crypto.randomUUID()}`, occurredAt: new Date(base),
      view: { type: "post" as const, actor: null, actors: [], subjectId: "31", count: 1, createdAt: new Date(base).toISOString(), updatedAt: new Date(base).toISOString(), read: false },
    };
    // the earlier attempt: its row committed, then its worker died before the badge and the event
    const [earlier] = await insertBatch(sql, { type: "post", actorId: null, subjectId: "31", dedupeKey: template.dedupeKey, occurredAt: template.occurredAt, userIds: [on] });
    const source = async (after: string | null) => (after === null ? { ids: [on, fresh], cursor: fresh } : { ids: [], cursor: null });
    const outcome = await runBatches(deps, { source, template, batchSize: 10, from: { cursor: null, written: 0, scanned: 0 }, checkpoint: async () => {} });
    // both recipients have the row: the checkpoint before this page never counted the earlier one
    expect(outcome.written).toBe(2);
    expect(await unread.getOne(on)).toBe(1); // was left at 0 for the counter's lifetime
    const evs = await notificationEvents(on);
    expect(evs.map((e) => e.data.notification.id)).toEqual([earlier!.id]);
    expect(evs[0]!.data.unread).toBe(1);
    await presence.disconnected(on, "test-replica");
  });

  test("delivery of a batch: counters adjusted only where cached, events only to online members, across chunks", async () => {
    const ids = await seedMembers(sql, 2);
    const [on, off] = ids as [string, string];
    await presence.connected(on, "test-replica");
    await unread.get([off]); // cached (0 before this write)
    await unread.invalidate(on);
    // 4,500 recipients: three Lua chunks; the online one is in the last
    const filler = Array.from({ length: 4_498 }, (_, i) => ({ userId: String(900_000_000 + i), unreadDelta: 1 }));
    const written = [...filler, { userId: off, unreadDelta: 1 }, { userId: on, unreadDelta: 1 }];
    await sql`insert into notifications (user_id, type, dedupe_key, created_at) values (${on}, 'post', 'post:deliver', ${new Date(base)}), (${off}, 'post', 'post:deliver', ${new Date(base)})`;
    const live = await deliver(deps, written, (i) => ({ id: String(i), type: "post" }) as never, await unread.fence(written.map((w) => w.userId)));
    expect(live).toBe(1);
    const evs = await notificationEvents(on);
    expect(evs).toHaveLength(1);
    expect(evs[0]!.data.notification.id).toBe(String(written.length - 1));
    expect(evs[0]!.data.unread).toBe(1); // rebuilt from Postgres
    expect(await redis.get(keys.unread(on))).toBe("1");
    expect(await redis.get(keys.unread(off))).toBe("1");
    expect(await redis.get(keys.unread(filler[0]!.userId))).toBeNull();
    expect(await notificationEvents(off)).toHaveLength(0);
    await presence.disconnected(on, "test-replica");
  });
});

describe("bulk live events", () => {
  test("one bulk append gives each online member's event exactly as events.append would (seq, log, epoch)", async () => {
    const [a, b, c] = (await seedMembers(sql, 3)) as [string, string, string];
    for (const id of [a, b, c]) await presence.connected(id, "test-replica");
    await events.append({ userId: a, kind: "message", data: { m: 1 } }); // a already has a stream: seq continues
    const headA = await events.head(a);
    const bulk: WriteDeps = deps;
    const written = [a, b, c].map((userId) => ({ userId, unreadDelta: 1 }));
    expect(await deliver(bulk, written, (i) => ({ id: `n${i}`, type: "post", text: "line\nbreak" }) as never, await unread.fence([a, b, c]))).toBe(3);
    const [allA, evB] = [await notificationEvents(a), await notificationEvents(b)];
    expect(allA.map((e) => e.kind)).toEqual(["message", "notification"]);
    const evA = allA.slice(1);
    expect(evA[0]!.data.notification as unknown).toEqual({ id: "n0", type: "post", text: "line\nbreak" });
    expect((await events.head(a)).seq).toBe(headA.seq + 1);
    expect((await events.head(a)).epoch).toBe(headA.epoch);
    expect(evB[0]!.data.notification.id).toBe("n1");
    const headB = await events.head(b);
    expect(headB.seq).toBe(1);
    expect(headB.epoch).toMatch(EPOCH_SHAPE);
    expect((await events.replayAfter(c, 0, null)).ok).toBe(true);
    for (const id of [a, b, c]) await presence.disconnected(id, "test-replica");
  });
});
