/** The notification endpoints through the real api, with the worker's consumers running. */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { registeredClient, useTestApi, type TestClient } from "../../../../../tests/harness/api.ts";
import { followJobId, waitForJob } from "../../../../../tests/notifications/in-process-worker.ts";
import { countUnread, insertBatch, markRead } from "@xplicit/shared/modules/notifications";

// real Postgres, Redis and BullMQ on a shared machine: allow for slow moments
setDefaultTimeout(60_000);

const api = useTestApi({}, { worker: {} });

async function followAndWait(follower: { client: TestClient; user: { id: string } }, followee: { user: { id: string; handle: string } }) {
  expect((await follower.client.post(`/api/users/${followee.user.handle}/follow`)).status).toBe(200);
  return waitForJob("notify", followJobId(followee.user.id, follower.user.id));
}

describe("follow notifications", () => {
  test("followers of one hour collapse into one unread notification with the latest actors", async () => {
    const star = await registeredClient(api);
    const fans = [await registeredClient(api), await registeredClient(api), await registeredClient(api), await registeredClient(api)];
    for (const fan of fans) await followAndWait(fan, star);
    const res = await star.client.get("/api/notifications");
    expect(res.status).toBe(200);
    expect(res.json.items).toHaveLength(1);
    const [n] = res.json.items;
    expect(n.type).toBe("follow");
    expect(n.count).toBe(4);
    expect(n.actor.handle).toBe(fans[3]!.user.handle);
    expect(n.actors.map((a: { handle: string }) => a.handle)).toEqual([fans[3]!.user.handle, fans[2]!.user.handle, fans[1]!.user.handle]);
    expect(n.read).toBe(false);
    expect(res.json.unread).toBe(1);
    expect((await star.client.get("/api/notifications/unread-count")).json).toEqual({ unread: 1 });
  });

  test("a muted type writes nothing; unmuting restores it", async () => {
    const me = await registeredClient(api);
    expect((await me.client.get("/api/me/notification-settings")).json.muted).toEqual([]);
    const put = await me.client.request("PUT", "/api/me/notification-settings", { muted: ["follow", "follow", "reaction"] });
    expect(put.status).toBe(200);
    expect(put.json.muted).toEqual(["follow", "reaction"]);
    expect(put.json.types).toContain("broadcast");
    expect((await followAndWait(await registeredClient(api), me)) as { result: string }).toMatchObject({ result: "muted" });
    expect((await me.client.get("/api/notifications")).json.items).toEqual([]);
    expect((await me.client.get("/api/notifications/unread-count")).json.unread).toBe(0);

    await me.client.request("PUT", "/api/me/notification-settings", { muted: [] });
    await followAndWait(await registeredClient(api), me);
    expect((await me.client.get("/api/notifications")).json.items).toHaveLength(1);
  });

  test("bad input is refused with a code", async () => {
    const me = await registeredClient(api);
    expect((await me.client.request("PUT", "/api/me/notification-settings", { muted: ["nope"] })).status).toBe(400);
    expect((await me.client.get("/api/notifications?type=nope")).json.error.code).toBe("invalid_type");
    expect((await me.client.get("/api/notifications?cursor=abc")).status).toBe(400);
    expect((await me.client.post("/api/notifications/read", { ids: ["1"], upTo: "2" })).status).toBe(400);
    expect((await me.client.post("/api/notifications/read", { ids: [] })).status).toBe(400);
    expect((await me.client.post("/api/notifications/read", { ids: ["x"] })).status).toBe(400);
    expect((await api.client().get("/api/notifications")).status).toBe(401);
  });
});

describe("list and read state", () => {
  async function seeded(n: number) {
    const me = await registeredClient(api);
    for (let i = 0; i < n; i++) {
      await insertBatch(api.deps.sql, { userIds: [me.user.id], type: "post", actorId: null, subjectId: String(i), dedupeKey: `post:${i}`, occurredAt: new Date() });
    }
    return me;
  }

  test("keyset pages cover every notification once, newest first, and filter by type", async () => {
    const me = await seeded(25);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await me.client.get(`/api/notifications?limit=10${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...res.json.items.map((i: { id: string }) => i.id));
      cursor = res.json.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    expect([...seen].sort((a, b) => Number(b) - Number(a))).toEqual(seen);
    expect((await me.client.get("/api/notifications?type=follow")).json.items).toEqual([]);
    expect((await me.client.get("/api/notifications?type=post&limit=100")).json.items).toHaveLength(25);
  });

  test("a group that counts a new event is on top again: first page, later pages, filters and mark-read up to an older row", async () => {
    const star = await registeredClient(api);
    await followAndWait(await registeredClient(api), star);
    await insertBatch(api.deps.sql, { userIds: [star.user.id], type: "post", actorId: null, subjectId: "1", dedupeKey: "post:latest-first", occurredAt: new Date() });
    const before: { id: string; type: string }[] = (await star.client.get("/api/notifications")).json.items;
    expect(before.map((i) => i.type)).toEqual(["post", "follow"]);
    const [post, follow] = before;

    await followAndWait(await registeredClient(api), star);
    const first: { id: string; type: string; count: number }[] = (await star.client.get("/api/notifications")).json.items;
    expect(first.map((i) => [i.id, i.count])).toEqual([[follow!.id, 2], [post!.id, 1]]);
    // the cached first page and Postgres' keyset pages agree
    const p1 = await star.client.get("/api/notifications?limit=1");
    const p2 = await star.client.get(`/api/notifications?limit=1&cursor=${p1.json.nextCursor}`);
    expect([...p1.json.items, ...p2.json.items].map((i: { id: string }) => i.id)).toEqual([follow!.id, post!.id]);
    expect(p2.json.nextCursor).toBeNull();
    expect((await star.client.get("/api/notifications?type=follow")).json.items.map((i: { id: string }) => i.id)).toEqual([follow!.id]);

    // a client that saw the list before the second follow marks read up to what it saw (the post):
    // the group's new event is above it and stays unread
    expect((await star.client.post("/api/notifications/read", { upTo: post!.id })).json).toEqual({ updated: 1, unread: 1 });
    const after: { id: string; read: boolean }[] = (await star.client.get("/api/notifications")).json.items;
    expect(after.map((i) => [i.id, i.read])).toEqual([[follow!.id, false], [post!.id, true]]);
    expect((await star.client.post("/api/notifications/read", { upTo: follow!.id })).json).toEqual({ updated: 1, unread: 0 });
  });

  test("marking read up to the top row as a client showed it (upToSeq) leaves what grew or came since unread", async () => {
    const star = await registeredClient(api);
    await followAndWait(await registeredClient(api), star);
    const shown: { id: string; seq: string }[] = (await star.client.get("/api/notifications")).json.items;
    expect(shown).toHaveLength(1);
    // after the client drew its list: a new row, and the shown group grows (it moves above both)
    await insertBatch(api.deps.sql, { userIds: [star.user.id], type: "post", actorId: null, subjectId: "5", dedupeKey: "post:after-shown", occurredAt: new Date() });
    await followAndWait(await registeredClient(api), star);
    expect((await star.client.post("/api/notifications/read", { upToSeq: shown[0]!.seq })).json).toEqual({ updated: 0, unread: 2 });
    const now: { id: string; seq: string }[] = (await star.client.get("/api/notifications")).json.items;
    expect((await star.client.post("/api/notifications/read", { upToSeq: now[0]!.seq })).json).toEqual({ updated: 2, unread: 0 });
    expect((await star.client.post("/api/notifications/read", { upToSeq: "x" })).status).toBe(400);
  });

  test("the message notifications of one conversation are read at once, however many and however old", async () => {
    const me = await registeredClient(api);
    for (let i = 0; i < 3; i++) {
      for (const conv of ["77", "78"]) {
        await insertBatch(api.deps.sql, { userIds: [me.user.id], type: "message", actorId: null, subjectId: conv, dedupeKey: `message:${conv}:${i}`, occurredAt: new Date() });
      }
    }
    const res = await me.client.post("/api/notifications/read", { type: "message", subjectId: "77" });
    expect(res.json).toEqual({ updated: 3, unread: 3 });
    const left: { subjectId: string; read: boolean }[] = (await me.client.get("/api/notifications")).json.items;
    expect(left.filter((n) => !n.read).map((n) => n.subjectId)).toEqual(["78", "78", "78"]);
    expect((await me.client.post("/api/notifications/read", { type: "message" })).status).toBe(400);
    expect((await me.client.post("/api/notifications/read", { type: "message", subjectId: "77", upTo: "1" })).status).toBe(400);
  });

  test("reads on two clients keep the badge equal to Postgres and reach the member's other clients", async () => {
    const me = await seeded(6);
    const second = api.client();
    expect((await second.post("/api/auth/login", { email: me.reg.email, password: me.reg.password })).status).toBe(200);
    const items: { id: string }[] = (await me.client.get("/api/notifications")).json.items;
    expect((await second.get("/api/notifications/unread-count")).json.unread).toBe(6);
    const head = await api.deps.events.head(me.user.id);

    const first = await me.client.post("/api/notifications/read", { ids: [items[0]!.id, items[1]!.id] });
    expect(first.json).toEqual({ updated: 2, unread: 4 });
    // the same ids again change nothing
    expect((await second.post("/api/notifications/read", { ids: [items[0]!.id] })).json).toEqual({ updated: 0, unread: 4 });
    const rest = await second.post("/api/notifications/read", { upTo: items[4]!.id });
    expect(rest.json).toEqual({ updated: 2, unread: 2 });

    const truth = (await countUnread(api.deps.sql, [me.user.id])).get(me.user.id);
    expect(truth).toBe(2);
    expect((await me.client.get("/api/notifications/unread-count")).json.unread).toBe(truth!);
    expect((await second.get("/api/notifications/unread-count")).json.unread).toBe(truth!);
    // the first page (cached by the first list) shows the new read state on both clients
    for (const client of [me.client, second]) {
      const listed: { id: string; read: boolean }[] = (await client.get("/api/notifications")).json.items;
      expect(listed.filter((i) => !i.read).map((i) => i.id)).toEqual([items[2]!.id, items[3]!.id]);
    }

    // both reads were appended to the member's event stream (every client of the member replays them)
    const replay = await api.deps.events.replayAfter(me.user.id, head.seq, null);
    expect(replay.ok).toBe(true);
    const frames = replay.ok ? replay.frames.map((f) => JSON.parse(`{"type":"event","seq":0,${f.slice(f.indexOf('"ts"'))}`)) : [];
    expect(frames.map((f) => f.kind)).toEqual(["notifications_read", "notifications_read"]);
    expect(frames[0].data).toEqual({ ids: [items[0]!.id, items[1]!.id], unread: 4 });
    expect(frames[1].data).toEqual({ upTo: items[4]!.id, unread: 2 });
  });

  test("a retry of a read whose first attempt committed and then failed fixes the badge, the cached page and the other clients", async () => {
    const me = await seeded(4);
    const items: { id: string }[] = (await me.client.get("/api/notifications")).json.items;
    expect((await me.client.get("/api/notifications/unread-count")).json.unread).toBe(4);
    const head = await api.deps.events.head(me.user.id);
    // what the first attempt left behind: the rows committed, nothing after it (badge, page, event)
    expect(await markRead(api.deps.sql, me.user.id, { ids: [items[0]!.id] })).toBe(1);

    const retry = await me.client.post("/api/notifications/read", { ids: [items[0]!.id] });
    expect(retry.json).toEqual({ updated: 0, unread: 3 });
    expect((await me.client.get("/api/notifications/unread-count")).json.unread).toBe(3);
    const listed: { id: string; read: boolean }[] = (await me.client.get("/api/notifications")).json.items;
    expect(listed.find((i) => i.id === items[0]!.id)?.read).toBe(true);
    const replay = await api.deps.events.replayAfter(me.user.id, head.seq, null);
    const kinds = replay.ok ? replay.frames.map((f) => JSON.parse(`{"type":"event","seq":0,${f.slice(f.indexOf('"ts"'))}`)) : [];
    expect(kinds.map((f) => [f.kind, f.data])).toEqual([["notifications_read", { ids: [items[0]!.id], unread: 3 }]]);

    // a second retry finds the badge right: nothing more for the clients
    expect((await me.client.post("/api/notifications/read", { ids: [items[0]!.id] })).json).toEqual({ updated: 0, unread: 3 });
    expect((await api.deps.events.head(me.user.id)).seq).toBe(head.seq + 1);
  });
});
