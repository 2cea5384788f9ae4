/** Profile reactions through the real api, with the notification worker's consumers running. */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { jobIdFor } from "@xplicit/shared/modules/notifications";
import { registeredClient, useTestApi, type TestClient } from "../../../../../tests/harness/api.ts";
import { waitForJob } from "../../../../../tests/notifications/in-process-worker.ts";
import { REACTION_WRITES_PER_MINUTE } from "./reactions.ts";

// real Postgres, Redis and BullMQ on a shared machine: allow for slow moments
setDefaultTimeout(60_000);

const api = useTestApi({}, { worker: {} });

type Member = Awaited<ReturnType<typeof registeredClient>>;
const ZERO = { like: 0, heart: 0, fire: 0, wink: 0 };

const react = (who: Member, handle: string, body: unknown) => who.client.request("PUT", `/api/users/${handle}/reaction`, body);
const unreact = (who: Member, handle: string) => who.client.del(`/api/users/${handle}/reaction`);
const reactionJobId = (owner: Member, actor: Member) => jobIdFor("notify", owner.user.id, `reaction:${owner.user.id}:${actor.user.id}`);

/** The member's `reaction` notifications (reading a profile also notifies, with `profile_view`). */
async function notifications(client: TestClient) {
  const res = await client.get("/api/notifications?type=reaction");
  expect(res.status).toBe(200);
  return res.json.items as { id: string; type: string; count: number; read: boolean; actor: { handle: string } | null; updatedAt: string }[];
}

describe("reacting to a profile", () => {
  test("a fresh profile reads with zero counts and no reaction of mine", async () => {
    const owner = await registeredClient(api);
    const viewer = await registeredClient(api);
    const res = await viewer.client.get(`/api/users/${owner.user.handle}`);
    expect(res.status).toBe(200);
    expect(res.json.profile.reactions).toEqual({ counts: ZERO, mine: null });
  });

  test("reacting notifies the owner once, however often it is repeated", async () => {
    const owner = await registeredClient(api);
    const fan = await registeredClient(api);
    for (let i = 0; i < 3; i++) {
      const res = await react(fan, owner.user.handle, { reaction: "heart" });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ reaction: "heart", counts: { ...ZERO, heart: 1 } });
    }
    expect(await waitForJob("notify", reactionJobId(owner, fan))).toMatchObject({ result: "written" });
    await Bun.sleep(300); // nothing else may arrive
    const items = await notifications(owner.client);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: "reaction", count: 1, read: false, actor: { handle: fan.user.handle } });
    expect((await owner.client.get("/api/notifications/unread-count")).json.unread).toBe(1);
    expect(await notifications(fan.client)).toEqual([]);

    const seen = await fan.client.get(`/api/users/${owner.user.handle}`);
    expect(seen.json.profile.reactions).toEqual({ counts: { ...ZERO, heart: 1 }, mine: "heart" });
    const own = await owner.client.get(`/api/users/${owner.user.handle}`);
    expect(own.json.profile.reactions).toEqual({ counts: { ...ZERO, heart: 1 }, mine: null });
  });

  test("changing the reaction replaces it; the notification counts the member once, however often they change it", async () => {
    const owner = await registeredClient(api);
    const fan = await registeredClient(api);
    await react(fan, owner.user.handle, { reaction: "like" });
    await waitForJob("notify", reactionJobId(owner, fan));
    const [unread] = await notifications(owner.client);
    expect((await owner.client.post("/api/notifications/read", { ids: [unread!.id] })).status).toBe(200);

    for (const reaction of ["fire", "wink", "like", "heart"]) {
      const changed = await react(fan, owner.user.handle, { reaction });
      expect(changed.json).toEqual({ reaction, counts: { ...ZERO, [reaction]: 1 } });
    }
    await Bun.sleep(500); // a notification of a change would have been written by now
    const items = await notifications(owner.client);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: "reaction", count: 1, read: true, actor: { handle: fan.user.handle } });
    expect((await owner.client.get("/api/notifications/unread-count")).json.unread).toBe(0);
    expect((await fan.client.get(`/api/users/${owner.user.handle}`)).json.profile.reactions.mine).toBe("heart");
  });

  test("counts add up over members; removing is idempotent and notifies nobody", async () => {
    const owner = await registeredClient(api);
    const fans = [await registeredClient(api), await registeredClient(api), await registeredClient(api)];
    await react(fans[0]!, owner.user.handle, { reaction: "wink" });
    await react(fans[1]!, owner.user.handle, { reaction: "wink" });
    const last = await react(fans[2]!, owner.user.handle, { reaction: "like" });
    expect(last.json.counts).toEqual({ ...ZERO, wink: 2, like: 1 });
    // all three jobs: the worker runs them concurrently, the newest reaction leads whatever the order
    await waitForJob("notify", reactionJobId(owner, fans[0]!));
    await waitForJob("notify", reactionJobId(owner, fans[1]!));
    await waitForJob("notify", reactionJobId(owner, fans[2]!));
    const items = await notifications(owner.client);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: "reaction", count: 3, actor: { handle: fans[2]!.user.handle } });

    const removed = await unreact(fans[0]!, owner.user.handle);
    expect(removed.status).toBe(200);
    expect(removed.json).toEqual({ counts: { ...ZERO, wink: 1, like: 1 } });
    expect((await unreact(fans[0]!, owner.user.handle)).json).toEqual({ counts: { ...ZERO, wink: 1, like: 1 } });
    expect((await fans[0]!.client.get(`/api/users/${owner.user.handle}`)).json.profile.reactions).toEqual({
      counts: { ...ZERO, wink: 1, like: 1 },
      mine: null,
    });
    await Bun.sleep(300);
    expect((await notifications(owner.client))[0]!.count).toBe(3);
  });

  test("a muted `reaction` type writes nothing", async () => {
    const owner = await registeredClient(api);
    const fan = await registeredClient(api);
    expect((await owner.client.request("PUT", "/api/me/notification-settings", { muted: ["reaction"] })).status).toBe(200);
    expect((await react(fan, owner.user.handle, { reaction: "heart" })).status).toBe(200);
    expect(await waitForJob("notify", reactionJobId(owner, fan))).toMatchObject({ result: "muted" });
    expect(await notifications(owner.client)).toEqual([]);
    expect((await owner.client.get("/api/notifications/unread-count")).json.unread).toBe(0);
  });
});

describe("refusals", () => {
  test("yourself 400, unknown member 404, unauthenticated 401", async () => {
    const me = await registeredClient(api);
    const self = await react(me, me.user.handle, { reaction: "like" });
    expect(self.status).toBe(400);
    expect(self.json.error.code).toBe("self");
    expect((await unreact(me, me.user.handle)).status).toBe(400);
    expect((await react(me, "nobody_here_xyz", { reaction: "like" })).status).toBe(404);
    const anon = api.client();
    const other = await registeredClient(api);
    expect((await anon.request("PUT", `/api/users/${other.user.handle}/reaction`, { reaction: "like" })).status).toBe(401);
    expect((await anon.del(`/api/users/${other.user.handle}/reaction`)).status).toBe(401);
  });

  test("bad bodies are 400 with a JSON error naming the allowed reactions", async () => {
    const me = await registeredClient(api);
    const other = await registeredClient(api);
    const path = `/api/users/${other.user.handle}/reaction`;
    for (const body of [{ reaction: "nope" }, { reaction: 1 }, {}, { reaction: "Like" }]) {
      const res = await react(me, other.user.handle, body);
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("invalid_reaction");
      expect(res.json.error.message).toContain("like, heart, fire, wink");
    }
    const broken = await me.client.request("PUT", path, undefined, { rawBody: "{reaction" });
    expect(broken.status).toBe(400);
    expect(broken.json.error.code).toBe("bad_json");
    const huge = await react(me, other.user.handle, { reaction: "like", pad: "x".repeat(2000) });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe("body_too_large");
    // the limit is in bytes: 700 two-byte characters are over it
    const wide = await react(me, other.user.handle, { reaction: "like", pad: "é".repeat(700) });
    expect(wide.status).toBe(413);
    expect(wide.json.error.code).toBe("body_too_large");
    expect((await other.client.get(`/api/users/${other.user.handle}`)).json.profile.reactions.counts).toEqual(ZERO);
  });

  test("a foreign or missing Origin, or a non-JSON body, is 403 and changes nothing", async () => {
    const me = await registeredClient(api);
    const other = await registeredClient(api);
    const path = `/api/users/${other.user.handle}/reaction`;
    const foreign = await me.client.request("PUT", path, { reaction: "like" }, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(foreign.json.error.code).toBe("bad_origin");
    expect((await me.client.request("PUT", path, { reaction: "like" }, { origin: null })).status).toBe(403);
    expect((await me.client.request("PUT", path, { reaction: "like" }, { contentType: "text/plain" })).status).toBe(403);
    expect((await me.client.del(path, { origin: "https://evil.example" })).status).toBe(403);
    expect((await other.client.get(`/api/users/${other.user.handle}`)).json.profile.reactions.counts).toEqual(ZERO);
  });

  test("blocks: hidden from a member the owner blocked (404), refused towards a member you blocked (403)", async () => {
    const owner = await registeredClient(api);
    const fan = await registeredClient(api);
    await react(fan, owner.user.handle, { reaction: "like" });
    expect((await owner.client.post(`/api/users/${fan.user.handle}/block`)).status).toBe(200);
    expect((await react(fan, owner.user.handle, { reaction: "heart" })).status).toBe(404);
    expect((await unreact(fan, owner.user.handle)).status).toBe(404);
    const refused = await react(owner, fan.user.handle, { reaction: "heart" });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe("blocked");
  });

  test(`more than ${REACTION_WRITES_PER_MINUTE} writes a minute are 429 with Retry-After`, async () => {
    const me = await registeredClient(api);
    const other = await registeredClient(api);
    for (let i = 0; i < REACTION_WRITES_PER_MINUTE; i++) {
      expect((await react(me, other.user.handle, { reaction: "like" })).status).toBe(200);
    }
    const limited = await unreact(me, other.user.handle);
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await other.client.get(`/api/users/${other.user.handle}`)).json.profile.reactions.counts).toEqual({ ...ZERO, like: 1 });
  });
});
