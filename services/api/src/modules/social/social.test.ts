import { describe, expect, test } from "bun:test";
import { ORIGIN, registeredClient, useTestApi, type TestClient } from "../../../../../tests/harness/api.ts";

const api = useTestApi();

describe("follow and block", () => {
  test("follow, unfollow, idempotent, not yourself", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    expect((await a.client.post(`/api/users/${b.user.handle}/follow`)).status).toBe(200);
    expect((await a.client.post(`/api/users/${b.user.handle}/follow`)).status).toBe(200);
    const followers = await a.client.get(`/api/users/${b.user.handle}/followers`);
    expect(followers.json.items.map((i: { handle: string }) => i.handle)).toEqual([a.user.handle]);
    expect((await a.client.post(`/api/users/${a.user.handle}/follow`)).status).toBe(400);
    expect((await a.client.del(`/api/users/${b.user.handle}/follow`)).status).toBe(200);
    expect((await a.client.get(`/api/users/${b.user.handle}/followers`)).json.items).toEqual([]);
    expect((await a.client.post(`/api/users/nobody_here_xyz/follow`)).status).toBe(404);
  });

  test("a profile read says whether the viewer follows or blocked that member (the profile page's buttons)", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    const state = async () => {
      const { profile } = (await a.client.get(`/api/users/${b.user.handle}`)).json;
      return { following: profile.following, blocked: profile.blocked };
    };
    expect(await state()).toEqual({ following: false, blocked: false });
    await a.client.post(`/api/users/${b.user.handle}/follow`);
    expect(await state()).toEqual({ following: true, blocked: false });
    await b.client.post(`/api/users/${a.user.handle}/follow`); // their follow is not the viewer's
    await a.client.del(`/api/users/${b.user.handle}/follow`);
    expect(await state()).toEqual({ following: false, blocked: false });
    await a.client.post(`/api/users/${b.user.handle}/block`);
    expect(await state()).toEqual({ following: false, blocked: true });
    // one's own profile has no buttons, so no such fields
    const own = (await a.client.get(`/api/users/${a.user.handle}`)).json.profile;
    expect("following" in own || "blocked" in own).toBe(false);
  });

  test("blocking removes follows both ways, stops re-following, hides the profile from the blocked", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    await a.client.post(`/api/users/${b.user.handle}/follow`);
    await b.client.post(`/api/users/${a.user.handle}/follow`);

    expect((await a.client.post(`/api/users/${b.user.handle}/block`)).status).toBe(200);
    expect((await a.client.get(`/api/users/${a.user.handle}/followers`)).json.items).toEqual([]);
    expect((await a.client.get(`/api/users/${a.user.handle}/following`)).json.items).toEqual([]);

    // a conversation too: the blocked member meets nobody; the blocker is told it is their block
    const talk = await b.client.post("/api/conversations", { handles: [a.user.handle] });
    expect([talk.status, talk.json.error.code]).toEqual([404, "not_found"]);
    // word for word what a handle nobody has gets, alone or in a group
    const nobody = await b.client.post("/api/conversations", { handles: ["nobody_has_this"] });
    expect(talk.json.error.message).toBe(nobody.json.error.message.replace("nobody_has_this", a.user.handle));
    const third = await registeredClient(api);
    const group = await b.client.post("/api/conversations", { handles: [third.user.handle, a.user.handle], title: "g" });
    expect([group.status, group.json.error.message]).toEqual([404, `no member @${a.user.handle}`]);
    expect((await a.client.post("/api/conversations", { handles: [b.user.handle] })).json.error.code).toBe("blocked");
    // the blocked member meets a member who is not there (as on the profile), not "you were blocked"
    const refollow = await b.client.post(`/api/users/${a.user.handle}/follow`);
    expect(refollow.status).toBe(404);
    expect(refollow.json.error.code).toBe("not_found");
    const own = await a.client.post(`/api/users/${b.user.handle}/follow`);
    expect(own.status).toBe(403);
    expect(own.json.error.code).toBe("blocked");

    expect((await b.client.get(`/api/users/${a.user.handle}`)).status).toBe(404);
    expect((await b.client.get(`/api/users/${a.user.handle}/followers`)).status).toBe(404);
    // no other route tells b that a is there (and blocked b): word for word a handle nobody has
    const absent = async (res: Promise<{ status: number; json: any }>) => {
      const r = await res;
      return [r.status, r.json.error?.code, r.json.followerCount];
    };
    for (const [method, path] of [["del", "follow"], ["post", "block"], ["del", "block"]] as const) {
      expect(await absent(b.client[method](`/api/users/${a.user.handle}/${path}`))).toEqual([404, "not_found", undefined]);
      expect(await absent(b.client[method](`/api/users/nobody_has_this/${path}`))).toEqual([404, "not_found", undefined]);
    }
    expect((await a.client.get(`/api/users/${b.user.handle}`)).status).toBe(200);
    expect((await a.client.get(`/api/me/blocks`)).json.items.map((i: { handle: string }) => i.handle)).toEqual([b.user.handle]);

    expect((await a.client.del(`/api/users/${b.user.handle}/block`)).status).toBe(200);
    expect((await b.client.get(`/api/users/${a.user.handle}`)).status).toBe(200);
    expect((await b.client.post(`/api/users/${a.user.handle}/follow`)).status).toBe(200);
  });

  test("a member blocked first still blocks back (the answer is the 404 of a member who is not there): lifting the first block does not open the way", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    expect((await b.client.post(`/api/users/${a.user.handle}/block`)).status).toBe(200);
    const back = await a.client.post(`/api/users/${b.user.handle}/block`);
    expect([back.status, back.json.error.code]).toEqual([404, "not_found"]); // b is not there for a
    // b lifts theirs (answered like any route towards a member who blocked b: 404, nothing told)
    expect((await b.client.del(`/api/users/${a.user.handle}/block`)).status).toBe(404);
    expect((await a.client.get(`/api/users/${b.user.handle}`)).status).toBe(200);
    // a's block was kept: b cannot reach a now that b lifted theirs
    expect((await b.client.get(`/api/users/${a.user.handle}`)).status).toBe(404);
    expect((await b.client.post("/api/conversations", { handles: [a.user.handle] })).status).toBe(404);
    expect((await a.client.get("/api/me/blocks")).json.items.map((i: { handle: string }) => i.handle)).toEqual([b.user.handle]);
  });
});

describe("blocks and follower lists", () => {
  test("a follow racing the followee's block never outlives the block", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    for (let i = 0; i < 8; i++) {
      await Promise.all([
        ...Array.from({ length: 4 }, () => a.client.post(`/api/users/${b.user.handle}/follow`)),
        b.client.post(`/api/users/${a.user.handle}/block`),
        ...Array.from({ length: 4 }, () => a.client.post(`/api/users/${b.user.handle}/follow`)),
      ]);
      const followers = (await b.client.get(`/api/users/${b.user.handle}/followers`)).json.items.map((m: { handle: string }) => m.handle);
      const { profile } = (await b.client.get(`/api/users/${b.user.handle}`)).json;
      expect({ i, followers, count: profile.followerCount }).toEqual({ i, followers: [], count: 0 });
      expect((await b.client.del(`/api/users/${a.user.handle}/block`)).status).toBe(200);
    }
  });

  test("someone else's follower and following lists leave out members with a block either way with the viewer", async () => {
    const [viewer, blocker, blockedByViewer, friend, plain] = await Promise.all([registeredClient(api), registeredClient(api), registeredClient(api), registeredClient(api), registeredClient(api)]);
    for (const m of [blocker, blockedByViewer, plain]) {
      await m.client.post(`/api/users/${friend.user.handle}/follow`);
      await friend.client.post(`/api/users/${m.user.handle}/follow`);
    }
    await blocker.client.post(`/api/users/${viewer.user.handle}/block`);
    await viewer.client.post(`/api/users/${blockedByViewer.user.handle}/block`);
    for (const list of ["followers", "following"]) {
      const seen = (await viewer.client.get(`/api/users/${friend.user.handle}/${list}`)).json.items.map((m: { handle: string }) => m.handle);
      expect({ list, seen }).toEqual({ list, seen: [plain.user.handle] });
      // the others still see all three
      expect((await plain.client.get(`/api/users/${friend.user.handle}/${list}`)).json.items).toHaveLength(3);
    }
  });
});

describe("follower counts", () => {
  const countsOf = async (viewer: TestClient, handle: string) => {
    const { profile } = (await viewer.get(`/api/users/${handle}`)).json;
    return [profile.followerCount, profile.followingCount];
  };

  test("a profile counts its followers and following through follows, repeats, unfollows and blocks", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    const c = await registeredClient(api);
    expect(await countsOf(a.client, b.user.handle)).toEqual([0, 0]);
    await a.client.post(`/api/users/${b.user.handle}/follow`);
    await a.client.post(`/api/users/${b.user.handle}/follow`); // a repeat counts nothing
    const third = await c.client.post(`/api/users/${b.user.handle}/follow`);
    // the follow's answer carries the followee's counts as they now are
    expect([third.json.followerCount, third.json.followingCount]).toEqual([2, 0]);
    await b.client.post(`/api/users/${a.user.handle}/follow`);
    expect(await countsOf(c.client, b.user.handle)).toEqual([2, 1]);
    expect(await countsOf(a.client, a.user.handle)).toEqual([1, 1]);
    await c.client.del(`/api/users/${b.user.handle}/follow`);
    await c.client.del(`/api/users/${b.user.handle}/follow`);
    expect(await countsOf(a.client, b.user.handle)).toEqual([1, 1]);
    // a block ends both follows between them
    await b.client.post(`/api/users/${a.user.handle}/block`);
    expect(await countsOf(b.client, b.user.handle)).toEqual([0, 0]);
    expect(await countsOf(a.client, a.user.handle)).toEqual([0, 0]);
  });

  test("counts stay right under concurrent follows both ways, bulk writes and a deleted member", async () => {
    const members = await Promise.all(Array.from({ length: 6 }, () => registeredClient(api)));
    // everyone follows everyone at once: pairs in both directions race on the same two counters
    await Promise.all(members.flatMap((m) => members.filter((o) => o !== m).map((o) => m.client.post(`/api/users/${o.user.handle}/follow`))));
    for (const m of members) expect(await countsOf(members[0]!.client, m.user.handle)).toEqual([5, 5]);

    // a block (which ends both follows) racing the blocked member's unfollow never deadlocks
    const [x, y] = [members[0]!, members[1]!];
    for (let i = 0; i < 12; i++) {
      await Promise.all([x.client.post(`/api/users/${y.user.handle}/follow`), y.client.post(`/api/users/${x.user.handle}/follow`)]);
      const raced = await Promise.all([x.client.post(`/api/users/${y.user.handle}/block`), y.client.del(`/api/users/${x.user.handle}/follow`)]);
      expect(raced.map((r) => r.status)).toEqual([200, 200]);
      expect((await x.client.del(`/api/users/${y.user.handle}/block`)).status).toBe(200);
    }
    await Promise.all([x.client.post(`/api/users/${y.user.handle}/follow`), y.client.post(`/api/users/${x.user.handle}/follow`)]);
    for (const m of members) expect(await countsOf(members[0]!.client, m.user.handle)).toEqual([5, 5]);

    const sql = api.deps.sql;
    const ids = members.map((m) => m.user.id);
    // written outside the api (a seed, an operator): the counters follow
    await sql`delete from follows where followee_id = ${ids[0]!}`;
    expect(await countsOf(members[1]!.client, members[0]!.user.handle)).toEqual([0, 5]);
    expect(await countsOf(members[1]!.client, members[1]!.user.handle)).toEqual([5, 4]);
    await sql`insert into follows (follower_id, followee_id) select id, ${ids[0]!} from users where id = any(${ids.slice(1)}::bigint[])`;
    expect(await countsOf(members[1]!.client, members[0]!.user.handle)).toEqual([5, 5]);
    // a deleted member leaves the others' counts right, and the deletion is not refused
    await sql`delete from users where id = ${ids[5]!}`;
    expect(await countsOf(members[0]!.client, members[0]!.user.handle)).toEqual([4, 4]);
    const [stored] = await sql<{ n: number }[]>`select count(*)::int as n from follow_counts where user_id = ${ids[5]!}`;
    expect(stored!.n).toBe(0);
    // a truncate (rolled back here) leaves every count at 0
    const afterTruncate = await sql
      .begin(async (tx) => {
        await tx`truncate follows`;
        const [row] = await tx<{ n: number }[]>`select count(*)::int as n from follow_counts where followers <> 0 or following <> 0`;
        throw Object.assign(new Error("rollback"), { n: row!.n });
      })
      .catch((err: { n?: number }) => err.n);
    expect(afterTruncate).toBe(0);
  });
});

describe("who may start a conversation with a member", () => {
  test("a member who takes conversations only from members they follow cannot be messaged or grouped by others; a conversation that exists goes on", async () => {
    const [shy, friend, stranger, other] = await Promise.all([registeredClient(api), registeredClient(api), registeredClient(api), registeredClient(api)]);
    expect((await shy.client.get("/api/me/contact-settings")).json.conversations).toBe("everyone");
    // a conversation started before the change
    const before = await friend.client.post("/api/conversations", { handles: [shy.user.handle] });
    expect(before.status).toBe(201);
    await shy.client.post(`/api/users/${friend.user.handle}/follow`);
    const oldConversation = await other.client.post("/api/conversations", { handles: [shy.user.handle] });
    expect(oldConversation.status).toBe(201);
    // one a stranger opened before the change, where shy never wrote
    const opened = await stranger.client.post("/api/conversations", { handles: [shy.user.handle] });
    expect(opened.status).toBe(201);
    expect((await shy.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: oldConversation.json.conversation.id, body: "hi other" })).status).toBe(200);

    const set = await shy.client.put("/api/me/contact-settings", { conversations: "following" });
    expect([set.status, set.json.conversations]).toEqual([200, "following"]);
    for (const bad of [{ conversations: "nobody" }, { conversations: 1 }, {}]) {
      expect((await shy.client.put("/api/me/contact-settings", bad)).status).toBe(400);
    }

    // the stranger's conversation, opened before the change, stays shut while shy never wrote in it
    const shut = await stranger.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: opened.json.conversation.id, body: "hello?" });
    expect([shut.status, shut.json.error.code]).toEqual([403, "not_accepting"]);
    const direct = await stranger.client.post("/api/conversations", { handles: [shy.user.handle, other.user.handle], title: "x" });
    expect([direct.status, direct.json.error.code, direct.json.error.message]).toEqual([403, "not_accepting", `@${shy.user.handle} takes new conversations only from members they follow`]);
    // one shy wrote in, with someone they do not follow, from before the change, goes on
    const old = await other.client.post("/api/conversations", { handles: [shy.user.handle] });
    expect([old.status, old.json.conversation.id]).toEqual([200, oldConversation.json.conversation.id]);
    const written = await other.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: old.json.conversation.id, body: "still here" });
    expect(written.status).toBe(200);
    // shy answering opens it
    expect((await shy.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: opened.json.conversation.id, body: "who is this?" })).status).toBe(200);
    expect((await stranger.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: opened.json.conversation.id, body: "an old friend" })).status).toBe(200);
    // the member they follow may, and the conversation that exists is still theirs
    expect((await friend.client.post("/api/conversations", { handles: [shy.user.handle, other.user.handle], title: "ok" })).status).toBe(201);
    const again = await friend.client.post("/api/conversations", { handles: [shy.user.handle] });
    expect([again.status, again.json.conversation.id]).toEqual([200, before.json.conversation.id]);
    // following the stranger opens the door; back to everyone opens it to all
    await shy.client.post(`/api/users/${stranger.user.handle}/follow`);
    expect((await stranger.client.post("/api/conversations", { handles: [shy.user.handle, other.user.handle], title: "now" })).status).toBe(201);
    expect((await shy.client.put("/api/me/contact-settings", { conversations: "everyone" })).status).toBe(200);
    expect((await other.client.post("/api/conversations", { handles: [shy.user.handle, stranger.user.handle], title: "all" })).status).toBe(201);
  });
});

describe("keyset pagination", () => {
  test("pages through 25 followers with no overlap and no gap, newest first", async () => {
    const star = await registeredClient(api);
    const fans: string[] = [];
    for (let i = 0; i < 25; i++) {
      const fan = await registeredClient(api);
      await fan.client.post(`/api/users/${star.user.handle}/follow`);
      fans.push(fan.user.handle);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await star.client.get(`/api/users/${star.user.handle}/followers?limit=10${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.json.items.map((i: { handle: string }) => i.handle));
      cursor = res.json.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(fans.reverse());
  }, 60_000);

  test("limit and cursor are validated", async () => {
    const a = await registeredClient(api);
    expect((await a.client.get(`/api/users/${a.user.handle}/followers?limit=101`)).status).toBe(400);
    expect((await a.client.get(`/api/users/${a.user.handle}/followers?limit=0`)).status).toBe(400);
    expect((await a.client.get(`/api/users/${a.user.handle}/followers?cursor=abc`)).status).toBe(400);
  });
});

describe("profiles", () => {
  test("edit and read a profile; limits enforced; anonymous gets 401", async () => {
    const a = await registeredClient(api);
    expect((await a.client.patch("/api/me/profile", { displayName: "Alice", bio: "hello" })).status).toBe(200);
    const res = await a.client.get(`/api/users/${a.user.handle}`);
    expect(res.json.profile).toMatchObject({ handle: a.user.handle, displayName: "Alice", bio: "hello" });
    expect(res.json.profile.id).toBeUndefined();
    expect((await a.client.patch("/api/me/profile", { displayName: "x".repeat(51) })).status).toBe(400);
    expect((await a.client.patch("/api/me/profile", { bio: "x".repeat(501) })).status).toBe(400);
    // characters as members count them: 50 flags (100 UTF-16 units) and 18 family emoji (198) are names;
    // 51 emoji or 201 units are not
    const flag = "\u{1F1EB}\u{1F1F7}";
    const family = "\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}";
    for (const name of [flag.repeat(50), family.repeat(18)]) {
      expect((await a.client.patch("/api/me/profile", { displayName: name })).status).toBe(200);
      expect((await a.client.get(`/api/users/${a.user.handle}`)).json.profile.displayName).toBe(name);
    }
    for (const name of ["\u{1F600}".repeat(51), family.repeat(19)]) {
      const long = await a.client.patch("/api/me/profile", { displayName: name });
      expect(long.status).toBe(400);
      expect(long.json.error.message).toMatch(/at most 50 characters/);
    }
    expect((await a.client.patch("/api/me/profile", { displayName: "Alice" })).status).toBe(200);
    for (const patch of [{ displayName: "nul\u0000" }, { displayName: "   " }, { displayName: "" }, { displayName: "\u200b\u200b\u200b" }, { displayName: "\u3164\ufeff \u2800" }, { displayName: "admin\u202egnp.exe" }, { displayName: "\u2066x\u2069" }, { bio: "nul\u0000" }, { bio: "lone \ud83d" }, { displayName: "Z" + "\u0336\u0301\u0342".repeat(60) }, { bio: "hi Z" + "\u0336\u0301\u0342".repeat(60) }, { displayName: "car\u001b]8;;http://evil\u0007ol" }, { displayName: "two\nlines" }, { bio: "bell\u0007" }, { bio: "del\u007f" }, { bio: "reads \u202eebackwards" }, { bio: "\u2066isolated\u2069" }]) {
      const bad = await a.client.patch("/api/me/profile", patch);
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toMatch(/^invalid_/);
    }
    // a bio keeps its line breaks and tabs
    expect((await a.client.patch("/api/me/profile", { bio: "first line\nsecond\tline" })).status).toBe(200);
    // names that pass for the site's own accounts
    for (const displayName of ["Xplicit Support ✔", "\u0430dmin", "Official Moderator"]) {
      const bad = await a.client.patch("/api/me/profile", { displayName });
      expect([bad.status, bad.json.error.code]).toEqual([400, "displayName_reserved"]);
    }
    // a name stored before these rules does not stop the member from editing the rest
    await api.deps.sql`update users set display_name = 'Xplicit Support', bio = ${"Z" + "\u0336".repeat(9)} where id = ${a.user.id}`;
    expect((await a.client.patch("/api/me/profile", { displayName: "Xplicit Support", bio: "hello" })).status).toBe(200);
    expect((await a.client.patch("/api/me/profile", { displayName: "Alice", bio: "hello" })).status).toBe(200);
    expect((await a.client.get(`/api/users/${a.user.handle}`)).json.profile).toMatchObject({ displayName: "Alice", bio: "hello" });
    // a bio may be cleared, a display name not
    expect((await a.client.patch("/api/me/profile", { bio: "  " })).status).toBe(200);
    expect((await a.client.get(`/api/users/${a.user.handle}`)).json.profile).toMatchObject({ displayName: "Alice", bio: "" });
    expect((await api.client().get(`/api/users/${a.user.handle}`)).status).toBe(401);
  });

  test("a body that is not UTF-8 is refused, not stored changed", async () => {
    const a = await registeredClient(api);
    const bytes = new Uint8Array([...new TextEncoder().encode('{"bio":"'), 0xff, 0xfe, ...new TextEncoder().encode(' bad"}')]);
    const res = await fetch(`${api.url}/api/me/profile`, {
      method: "PATCH",
      headers: { origin: ORIGIN, "content-type": "application/json", cookie: a.client.cookieHeader },
      body: bytes,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("bad_encoding");
    expect((await a.client.get(`/api/users/${a.user.handle}`)).json.profile.bio).toBe("");
  });

  test("blocks and unblocks are limited per member; a group title refuses text-direction controls", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) {
      statuses.push((await a.client.post(`/api/users/${b.user.handle}/block`)).status);
      statuses.push((await a.client.del(`/api/users/${b.user.handle}/block`)).status);
    }
    expect(statuses.slice(0, 30).every((st) => st === 200)).toBe(true);
    expect(statuses.slice(30)).toEqual([429, 429]);
    const c = await registeredClient(api);
    const bidi = await a.client.post("/api/conversations", { handles: [c.user.handle, b.user.handle], title: "\u202Eevil" });
    expect(bidi.status).toBe(400);
  });

  test("members' data is never cached by a browser or a proxy", async () => {
    const a = await registeredClient(api);
    for (const path of [`/api/users/${a.user.handle}`, "/api/me/sessions", "/api/conversations", "/api/notifications", "/api/me/blocks", `/api/users/${a.user.handle}/followers`]) {
      const res = await a.client.get(path);
      expect({ path, status: res.status, cache: res.headers.get("cache-control") }).toEqual({ path, status: 200, cache: "no-store" });
    }
  });
});
