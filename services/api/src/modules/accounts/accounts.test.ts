import { describe, expect, test } from "bun:test";
import { newMember, registeredClient, startTestApi, useTestApi } from "../../../../../tests/harness/api.ts";

const api = useTestApi({ LOGIN_MAX_FAILURES_PER_ACCOUNT: "3" });

function yearsAgo(years: number, dayOffset = 0): string {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() - years);
  d.setUTCDate(d.getUTCDate() + dayOffset);
  return d.toISOString().slice(0, 10);
}

describe("registration", () => {
  test("creates a member, sets a __Host- session cookie with the right flags", async () => {
    const client = api.client();
    const reg = newMember({ email: "  Mixed.Case@Example.TEST " , handle: "mixed_case_member" });
    const res = await client.post("/api/auth/register", reg);
    expect(res.status).toBe(201);
    expect(res.json.user.email).toBe("mixed.case@example.test");
    const cookie = client.lastSetCookie.find((c) => c.startsWith("__Host-sid="))!;
    expect(cookie).toBeDefined();
    for (const flag of ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"]) expect(cookie).toContain(flag);
    expect(cookie).not.toContain("Domain");
    const me = await client.get("/api/me");
    expect(me.status).toBe(200);
    expect(me.json.user.handle).toBe("mixed_case_member");
  });

  test("GET /api/session says whether the browser is signed in, as 200 either way", async () => {
    const anonymous = await api.client().get("/api/session");
    expect(anonymous.status).toBe(200);
    expect(anonymous.json).toEqual({ signedIn: false });
    const { client } = await registeredClient(api);
    expect((await client.get("/api/session")).json).toEqual({ signedIn: true });
    await client.post("/api/auth/logout");
    expect((await client.get("/api/session")).json).toEqual({ signedIn: false });
  });

  test("18 today is allowed, 18 tomorrow is underage (422)", async () => {
    const ok = await api.client().post("/api/auth/register", newMember({ birthDate: yearsAgo(18) }));
    expect(ok.status).toBe(201);
    const young = await api.client().post("/api/auth/register", newMember({ birthDate: yearsAgo(18, 1) }));
    expect(young.status).toBe(422);
    expect(young.json.error.code).toBe("underage");
  });

  test("duplicate email (any case) and duplicate handle are 409", async () => {
    const reg = newMember();
    expect((await api.client().post("/api/auth/register", reg)).status).toBe(201);
    const sameEmail = await api.client().post("/api/auth/register", newMember({ email: reg.email.toUpperCase() }));
    expect(sameEmail.status).toBe(409);
    expect(sameEmail.json.error.code).toBe("email_taken");
    // the same address with its letters composed or decomposed
    const tag = crypto.randomUUID().slice(0, 8);
    expect((await api.client().post("/api/auth/register", newMember({ email: `\u00fcn\u00ef_${tag}@ex\u00e4mple.test` }))).status).toBe(201);
    const decomposed = await api.client().post("/api/auth/register", newMember({ email: `u\u0308ni\u0308_${tag}@exa\u0308mple.test` }));
    expect(decomposed.status).toBe(409);
    const sameHandle = await api.client().post("/api/auth/register", newMember({ handle: reg.handle }));
    expect(sameHandle.status).toBe(409);
    expect(sameHandle.json.error.code).toBe("handle_taken");
  });

  test.each([
    [{ handle: "ab" }, "invalid_handle"],
    [{ handle: "Has-Upper" }, "invalid_handle"],
    [{ password: "short" }, "invalid_password"],
    [{ password: "x".repeat(129) }, "invalid_password"],
    [{ password: "123456789012" }, "weak_password"],
    [{ password: "aaaaaaaaaaaa" }, "weak_password"],
    [{ password: "zyxwvutsrqpo" }, "weak_password"],
    [{ password: "Password123" }, "weak_password"],
    [{ handle: "charlotte_w", password: "charlotte_w1" }, "weak_password"],
    [{ password: "abcabcabcabcabc" }, "weak_password"],
    [{ password: "passwordpassword" }, "weak_password"],
    [{ password: "qwertyuiop1" }, "weak_password"],
    [{ password: "Sunshine2024!" }, "weak_password"],
    [{ password: "\u{1F600}".repeat(5) }, "invalid_password"],
    [{ password: "\u{1F468}\u200d\u{1F469}\u200d\u{1F467}".repeat(2) }, "invalid_password"],
    [{ handle: "admin" }, "handle_reserved"],
    [{ handle: "support" }, "handle_reserved"],
    // a new member's display name is their handle: the display name's rule holds for it
    [{ handle: "xplicit_support722" }, "handle_reserved"],
    [{ handle: "the_adm1n" }, "handle_reserved"],
    [{ email: "not-an-email" }, "invalid_email"],
    [{ email: "nul\u0000byte@example.test" }, "invalid_email"],
    [{ email: "lone\ud800surrogate@example.test" }, "invalid_email"],
    [{ birthDate: "2001-02-30" }, "invalid_birth_date"],
    [{ acceptTerms: false }, "terms_not_accepted"],
  ])("rejects %p with 400 %s", async (override, code) => {
    const res = await api.client().post("/api/auth/register", newMember(override));
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe(code);
    expect(res.json.error.message).toBeString();
  });

  test("bad JSON is 400, never a crash", async () => {
    const res = await api.client().request("POST", "/api/auth/register", undefined, { rawBody: "{nope" });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("bad_json");
  });

  test("wrong Content-Type is 403", async () => {
    const res = await api.client().request("POST", "/api/auth/register", undefined, {
      rawBody: JSON.stringify(newMember()),
      contentType: "text/plain",
    });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe("bad_content_type");
  });

  test("missing or foreign Origin is 403 on every state-changing request", async () => {
    const missing = await api.client().post("/api/auth/register", newMember(), { origin: null });
    expect(missing.status).toBe(403);
    expect(missing.json.error.code).toBe("bad_origin");
    const foreign = await api.client().post("/api/auth/login", { email: "a@b.cd", password: "xxxxxxxxxxxx" }, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    const { client } = await registeredClient(api);
    const logout = await client.post("/api/auth/logout", {}, { origin: "https://localhost:8443.evil.example" });
    expect(logout.status).toBe(403);
    expect((await client.get("/api/me")).status).toBe(200);
  });

  test("a NUL or control character in the email is 400 on login too, never a 500", async () => {
    for (const email of ["nul\u0000byte@example.test", "bell\u0007@example.test"]) {
      const res = await api.client().post("/api/auth/login", { email, password: "whatever password" });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("invalid_email");
    }
  });

  test("errors never leak a stack", async () => {
    const res = await api.client().post("/api/auth/register", { email: 12 });
    expect(JSON.stringify(res.json)).not.toContain("at ");
  });
});

describe("sessions", () => {
  test("login rotates the session: the old cookie stops working", async () => {
    const { client, reg } = await registeredClient(api);
    const before = client.cookies.get("__Host-sid")!;
    const login = await client.post("/api/auth/login", { email: reg.email, password: reg.password });
    expect(login.status).toBe(200);
    const after = client.cookies.get("__Host-sid")!;
    expect(after).not.toBe(before);
    const stale = api.client();
    stale.cookies.set("__Host-sid", before);
    expect((await stale.get("/api/me")).status).toBe(401);
    expect((await client.get("/api/me")).status).toBe(200);
  });

  test("wrong password is 401 with a generic message", async () => {
    const { reg } = await registeredClient(api);
    const res = await api.client().post("/api/auth/login", { email: reg.email, password: "wrong password!" });
    expect(res.status).toBe(401);
    const unknown = await api.client().post("/api/auth/login", { email: `nobody_${crypto.randomUUID()}@example.test`, password: "wrong password!" });
    expect(unknown.status).toBe(401);
    expect(unknown.json.error.message).toBe(res.json.error.message);
  });

  test("repeated failed logins are throttled with 429 and Retry-After", async () => {
    const { reg } = await registeredClient(api);
    for (let i = 0; i < 3; i++) {
      expect((await api.client().post("/api/auth/login", { email: reg.email, password: "wrong password!" })).status).toBe(401);
    }
    const blocked = await api.client().post("/api/auth/login", { email: reg.email, password: reg.password });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("a stranger's wrong passwords lock out new browsers, not the member's own: a known browser has its own budget", async () => {
    const { client: mine, reg } = await registeredClient(api);
    const cookie = mine.lastSetCookie.find((c) => c.startsWith("__Host-xdev="))!;
    expect(cookie).toMatch(/HttpOnly; Secure; SameSite=Strict/);
    expect((await mine.post("/api/auth/logout")).status).toBe(200);
    // the same browser signs in to a second account meanwhile: it stays known for the first
    const second = await registeredClient(api);
    expect((await second.client.post("/api/auth/logout")).status).toBe(200);
    expect((await mine.post("/api/auth/login", { email: second.reg.email, password: second.reg.password })).status).toBe(200);
    expect((await mine.post("/api/auth/logout")).status).toBe(200);
    const stranger = api.client();
    for (let i = 0; i < 8; i++) await stranger.post("/api/auth/login", { email: reg.email, password: "wrong password!" });
    expect((await api.client().post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(429);
    // the member's browser, known from the registration, still signs in (and stays known)
    const back = await mine.post("/api/auth/login", { email: reg.email, password: reg.password });
    expect(back.status).toBe(200);
    // its token for the first account is still in the cookie (with the second's)
    const firstToken = cookie.slice("__Host-xdev=".length, cookie.indexOf(";"));
    expect(mine.lastSetCookie.find((c) => c.startsWith("__Host-xdev="))!.split(";")[0]!.split("=")[1]!.split(".")).toContain(firstToken);
    // its own failures still count, for it alone
    for (let i = 0; i < 3; i++) expect((await mine.post("/api/auth/login", { email: reg.email, password: "wrong password!" })).status).toBe(401);
    expect((await mine.post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(429);
    // a device cookie of another account is a stranger here
    const other = await registeredClient(api);
    expect((await other.client.post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(429);
  });

  test("a burst of parallel wrong logins cannot get past the limit", async () => {
    const { reg } = await registeredClient(api);
    const headers = { "x-real-ip": "198.51.100.7" };
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => api.client().post("/api/auth/login", { email: reg.email, password: "wrong password!" }, { headers })),
    );
    expect(burst.filter((r) => r.status === 401)).toHaveLength(3);
    expect(burst.filter((r) => r.status === 429)).toHaveLength(17);
    expect((await api.client().post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(429);
  });

  test("successful logins do not use up the IP's failure budget", async () => {
    const ipApi = await startTestApi({ LOGIN_MAX_FAILURES_PER_IP: "3" });
    try {
      const { reg } = await registeredClient(ipApi);
      const headers = { "x-real-ip": "198.51.100.8" };
      for (let i = 0; i < 6; i++) {
        expect((await ipApi.client().post("/api/auth/login", { email: reg.email, password: reg.password }, { headers })).status).toBe(200);
      }
      expect((await ipApi.client().post("/api/auth/login", { email: reg.email, password: "wrong password!" }, { headers })).status).toBe(401);
    } finally {
      await ipApi.stop();
    }
  });

  test("logout revokes at once; logout-all ends every session of the member", async () => {
    const { client, reg } = await registeredClient(api);
    const second = api.client();
    expect((await second.post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(200);
    const third = api.client();
    expect((await third.post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(200);

    const list = await client.get("/api/me/sessions");
    expect(list.json.sessions.length).toBe(3);
    expect(list.json.sessions.filter((s: { current: boolean }) => s.current).length).toBe(1);

    expect((await third.post("/api/auth/logout")).status).toBe(200);
    expect((await third.get("/api/me")).status).toBe(401);

    const all = await client.post("/api/auth/logout-all");
    expect(all.json.revoked).toBe(2);
    expect((await client.get("/api/me")).status).toBe(401);
    expect((await second.get("/api/me")).status).toBe(401);
  });

  test("a password changes only with the current one; every other session ends, this browser stays signed in, and only the new password signs in", async () => {
    const { client, reg } = await registeredClient(api);
    const intruder = api.client();
    expect((await intruder.post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(200);
    const next = "a much longer secret 42";

    const wrong = await client.post("/api/me/password", { currentPassword: "not my password", newPassword: next });
    expect({ status: wrong.status, code: wrong.json.error.code }).toEqual({ status: 403, code: "wrong_password" });
    const weak = await client.post("/api/me/password", { currentPassword: reg.password, newPassword: "1234567890" });
    expect({ status: weak.status, code: weak.json.error.code }).toEqual({ status: 400, code: "weak_password" });
    const same = await client.post("/api/me/password", { currentPassword: reg.password, newPassword: reg.password });
    expect({ status: same.status, code: same.json.error.code }).toEqual({ status: 400, code: "same_password" });
    expect((await client.post("/api/me/password", { newPassword: next })).status).toBe(400);
    // nothing changed so far
    expect((await intruder.get("/api/me")).status).toBe(200);

    const changed = await client.post("/api/me/password", { currentPassword: reg.password, newPassword: next });
    expect(changed.status).toBe(200);
    expect(changed.json.otherSessionsEnded).toBe(1);
    expect((await intruder.get("/api/me")).status).toBe(401);
    expect((await client.get("/api/me")).status).toBe(200);
    expect((await client.get("/api/me/sessions")).json.sessions).toHaveLength(1);
    expect((await api.client().post("/api/auth/login", { email: reg.email, password: reg.password })).status).toBe(401);
    expect((await api.client().post("/api/auth/login", { email: reg.email, password: next })).status).toBe(200);
  });

  test("wrong current passwords count as failed logins: past the budget a password change waits like a login", async () => {
    const { client, reg } = await registeredClient(api);
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) answers.push((await client.post("/api/me/password", { currentPassword: `wrong guess ${i}`, newPassword: "a much longer secret 42" })).status);
    expect(answers.slice(0, 3)).toEqual([403, 403, 403]);
    expect(answers.slice(3)).toEqual([429, 429]);
    // (the right one now waits too, as a login from a new browser would)
    expect((await client.post("/api/me/password", { currentPassword: reg.password, newPassword: "a much longer secret 42" })).status).toBe(429);
  });

  test("deleting an account needs the password; then its sessions, profile, messages, memberships and follows are gone, and its groups are told", async () => {
    const a = await registeredClient(api);
    const b = await registeredClient(api);
    const c = await registeredClient(api);
    const direct = (await a.client.post("/api/conversations", { handles: [b.user.handle] })).json.conversation.id as string;
    const group = (await b.client.post("/api/conversations", { handles: [a.user.handle, c.user.handle], title: "trio" })).json.conversation.id as string;
    const say = (who: typeof a, conversationId: string, body: string) => who.client.post("/api/messages", { id: crypto.randomUUID(), conversationId, body });
    for (const [who, conv, body] of [[a, direct, "a to b"], [b, direct, "b to a"], [a, group, "a to the group"], [c, group, "c to the group"]] as const) {
      expect((await say(who, conv, body)).status).toBe(200);
    }
    expect((await b.client.post(`/api/users/${a.user.handle}/follow`)).status).toBe(200);
    expect((await a.client.post(`/api/users/${c.user.handle}/follow`)).status).toBe(200);
    const keptId = crypto.randomUUID();
    expect((await b.client.post("/api/messages", { id: keptId, conversationId: direct, body: "b again" })).status).toBe(200);
    const phone = api.client();
    expect((await phone.post("/api/auth/login", { email: a.reg.email, password: a.reg.password })).status).toBe(200);

    const wrong = await a.client.request("DELETE", "/api/me", { password: "not the password" });
    expect({ status: wrong.status, code: wrong.json.error.code }).toEqual({ status: 403, code: "wrong_password" });
    expect((await a.client.get("/api/me")).status).toBe(200);

    const deleted = await a.client.request("DELETE", "/api/me", { password: a.reg.password });
    expect(deleted.status).toBe(200);
    for (const session of [a.client, phone]) expect((await session.get("/api/me")).status).toBe(401);
    expect((await api.client().post("/api/auth/login", { email: a.reg.email, password: a.reg.password })).status).toBe(401);
    expect((await b.client.get(`/api/users/${a.user.handle}`)).status).toBe(404);
    const bodies = async (who: typeof a, conv: string) => {
      const res = await who.client.get(`/api/conversations/${conv}/messages`);
      if (res.status !== 200) throw new Error(`history: ${res.status} ${JSON.stringify(res.json)}`);
      return (res.json.messages as { body: string }[]).map((m) => m.body);
    };
    expect(await bodies(b, direct)).toEqual(["b again", "b to a"]);
    // nobody would ever read a message there: refused, saying why; a repeat of one stored before
    // is still answered as sent (the client would otherwise show a delivered message as not sent)
    const toNobody = await say(b, direct, "are you still there?");
    expect([toNobody.status, toNobody.json.error.code]).toEqual([410, "member_gone"]);
    expect((await b.client.post("/api/messages", { id: keptId, conversationId: direct, body: "b again" })).status).toBe(200);
    expect(await bodies(c, group)).toEqual(["c to the group"]);
    const members = (await c.client.get(`/api/conversations/${group}`)).json.conversation.members as { id: string }[];
    expect(members.map((m) => m.id).sort()).toEqual([b.user.id, c.user.id].sort());
    const told = await api.deps.events.replayAfter(c.user.id, 0, null);
    expect(told.ok && told.frames.some((f) => f.includes('"change":"left"') && f.includes(`"userId":"${a.user.id}"`))).toBe(true);
    expect((await b.client.get(`/api/users/${b.user.handle}`)).json.profile.followingCount).toBe(0);
    expect((await c.client.get(`/api/users/${c.user.handle}`)).json.profile.followerCount).toBe(0);
    // the email and handle are free again
    const again = await api.client().post("/api/auth/register", { ...newMember(), email: a.reg.email, handle: a.user.handle });
    expect(again.status).toBe(201);
  });

  test("deleting an account deletes its messages in groups it had left before, too", async () => {
    const [a, b, c] = [await registeredClient(api), await registeredClient(api), await registeredClient(api)];
    const group = (await b.client.post("/api/conversations", { handles: [a.user.handle, c.user.handle], title: "left behind" })).json.conversation.id as string;
    expect((await a.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: group, body: "a was here" })).status).toBe(200);
    expect((await b.client.post("/api/messages", { id: crypto.randomUUID(), conversationId: group, body: "b stays" })).status).toBe(200);
    expect((await a.client.post(`/api/conversations/${group}/leave`)).status).toBe(200);
    const history = async () => ((await b.client.get(`/api/conversations/${group}/messages`)).json.messages as { body: string }[]).map((m) => m.body);
    expect((await history()).sort()).toEqual(["a was here", "b stays"]); // a leave keeps them
    expect((await a.client.request("DELETE", "/api/me", { password: a.reg.password })).status).toBe(200);
    expect(await history()).toEqual(["b stays"]);
  });

  test("a send accepted before the deletion and written after it does not outlive the account", async () => {
    const [a, b] = [await registeredClient(api), await registeredClient(api)];
    const conv = (await a.client.post("/api/conversations", { handles: [b.user.handle] })).json.conversation.id as string;
    expect((await a.client.request("DELETE", "/api/me", { password: a.reg.password })).status).toBe(200);
    // what a replica's writer still commits for a send it had queued (its deadline is 5 s)
    await api.deps.sql`insert into messages (conversation_id, sender_id, client_msg_id, body) values (${conv}, ${a.user.id}, gen_random_uuid(), 'late')`;
    const late = async () => (await api.deps.sql`select count(*)::int as n from messages where conversation_id = ${conv} and sender_id = ${a.user.id}`)[0]!.n as number;
    expect(await late()).toBe(1);
    for (let i = 0; i < 100 && (await late()) > 0; i++) await Bun.sleep(100);
    expect(await late()).toBe(0);
  }, 30_000);

  test("a member can end one of their sessions, not someone else's", async () => {
    const { client, reg } = await registeredClient(api);
    const other = api.client();
    await other.post("/api/auth/login", { email: reg.email, password: reg.password });
    const sessions = (await client.get("/api/me/sessions")).json.sessions as { id: string; current: boolean }[];
    const target = sessions.find((s) => !s.current)!;
    const stranger = (await registeredClient(api)).client;
    expect((await stranger.del(`/api/me/sessions/${target.id}`)).status).toBe(404);
    expect((await client.del(`/api/me/sessions/${target.id}`)).status).toBe(200);
    expect((await other.get("/api/me")).status).toBe(401);
    expect((await client.del("/api/me/sessions/not-a-number")).status).toBe(404);
  });
});

describe("idle expiry", () => {
  test("a session unused for longer than the idle timeout is gone (Redis and Postgres)", async () => {
    const shortApi = await startTestApi({ SESSION_IDLE_SECONDS: "1" });
    try {
      const { client } = await registeredClient(shortApi);
      expect((await client.get("/api/me")).status).toBe(200);
      await Bun.sleep(2200);
      expect((await client.get("/api/me")).status).toBe(401);
    } finally {
      await shortApi.stop();
    }
  });
});

describe("absolute lifetime", () => {
  test("a session in constant use still ends at its absolute lifetime", async () => {
    const shortApi = await startTestApi({ SESSION_ABSOLUTE_SECONDS: "2" });
    try {
      const { client } = await registeredClient(shortApi);
      const deadline = Date.now() + 1500;
      while (Date.now() < deadline) {
        expect((await client.get("/api/me")).status).toBe(200);
        await Bun.sleep(250);
      }
      await Bun.sleep(1000);
      expect((await client.get("/api/me")).status).toBe(401);
    } finally {
      await shortApi.stop();
    }
  });
});
