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
import { countUnread, insertBatch, listForMember, markRead } from "./store.ts";
import type { NotifyJobData } from "./queues.ts";

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

  test("20 follows in one window collapse into one row with the count and the latest actors", async () => {
    const [me, ...fans] = members as [string, ...string[]];
    for (const [i, fan] of fans.slice(0, 20).entries()) {
      expect((await writeNotification(deps, follow(me, fan, base + i * 1000))).result).toBe("written");
    }
    const rows = await listForMember(sql, me, { beforeId: null, limit: 10, type: null });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.count).toBe(20);
    expect(rows[0]!.actorIds).toEqual([fans[19]!, fans[18]!, fans[17]!]);
    expect(rows[0]!.actorId).toBe(fans[19]!);

    // a retried job (same event) changes nothing
    expect((await writeNotification(deps, follow(me, fans[5]!, base + 5000))).result).toBe("duplicate");
    expect((await listForMember(sql, me, { beforeId: null, limit: 10, type: null }))[0]!.count).toBe(20);

    // the next window starts a new row
    await writeNotification(deps, follow(me, fans[20]!, base + HOUR));
    const after = await listForMember(sql, me, { beforeId: null, limit: 10, type: null });
    expect(after.map((r) => r.count)).toEqual([1, 20]);
  });

  test("a read group becomes unread again when it grows, and the counter follows", async () => {
    const [, , me, a, b] = members as string[] as [string, string, string, string, string];
    await writeNotification(deps, follow(me, a));
    expect(await unread.getOne(me)).toBe(1);
    const [row] = await listForMember(sql, me, { beforeId: null, limit: 1, type: null });
    expect(await markRead(sql, me, { ids: [row!.id] })).toBe(1);
    await unread.adjust([{ userId: me, delta: -1 }]);
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
    expect(await listForMember(sql, me, { beforeId: null, limit: 10, type: null })).toEqual([]);
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
});
