/**
 * Pages in a real browser (Debian's Chromium through playwright-core), against the api and a chat
 * replica as processes, through nginx over TLS: where the landing page sends a member, what the
 * profile page shows after the member acts on it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { conversationBetween, missing, modeOf, register, sendOverHttp, signedIn, startWeb, until, type Web } from "./web.ts";

const why = missing();
if (why) console.warn(`tests/browser/pages.test.ts skipped: ${why}`);

let web: Web;
beforeAll(async () => {
  if (why) return;
  web = await startWeb({ noWsEdge: true, worker: true });
}, 90_000);
afterAll(async () => {
  await web?.stop();
});

describe.skipIf(!!why)("profile page", () => {
  test("a profile counts followers as the member follows; blocking shows what it did: no follow either way, nothing to press but Unblock", async () => {
    const [a, b] = [await register(web), await register(web)];
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${web.edge.url}/u/${b.handle}`);
    const followers = () => page.$$eval("#people li", (lis) => lis.map((li) => li.textContent ?? ""));
    const disabled = (sel: string) => page.$eval(sel, (el) => (el as HTMLButtonElement).disabled);
    await until("the profile", async () => (await page.textContent("#handle")) === `@${b.handle}`);

    expect(await page.textContent("#show-followers")).toBe("Followers 0");
    await page.click("#follow");
    await until("a among b's followers", async () => (await followers()).some((t) => t.includes(`@${a.handle}`)));
    expect(await page.textContent("#show-followers")).toBe("Followers 1");
    await page.reload();
    await until("the count from the server", async () => (await page.textContent("#show-followers")) === "Followers 1");

    await page.click("#block");
    await until("blocked", async () => (await page.textContent("#block")) === "Unblock");
    await until("a gone from b's followers", async () => !(await followers()).some((t) => t.includes(`@${a.handle}`)));
    expect(await page.textContent("#show-followers")).toBe("Followers 0");
    expect(await page.textContent("#follow")).toBe("Follow");
    expect(await disabled("#follow")).toBe(true);
    expect(await disabled("#message")).toBe(true);
    expect(await page.$$eval("#reactions button[data-reaction]", (bs) => bs.every((btn) => (btn as HTMLButtonElement).disabled))).toBe(true);

    await page.click("#block");
    await until("unblocked", async () => (await page.textContent("#block")) === "Block");
    expect(await disabled("#follow")).toBe(false);
    expect(await disabled("#message")).toBe(false);
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("landing page", () => {
  test("after signing in it goes to the page named by next, and never to another site", async () => {
    const a = await register(web);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    const landingUrl = async (next: string) => {
      await page.goto(`${web.edge.url}/?next=${next}`);
      await until("left the landing page", async () => new URL(page.url()).pathname !== "/" || new URL(page.url()).origin !== web.edge.url);
      return page.url();
    };
    const landing = async (next: string) => {
      const url = new URL(await landingUrl(next));
      return url.origin === web.edge.url ? url.pathname + url.search : url.href;
    };
    expect(await landing(encodeURIComponent("/settings?x=1"))).toBe("/settings?x=1");
    // what browsers read as another host: a backslash, a tab or a newline after the slash, a scheme
    const here = encodeURIComponent(`${web.edge.url}//evil.example`);
    for (const evil of ["/%5Cevil.example/phish", "/%09/evil.example/phish", "/%0A/evil.example", "//evil.example", "https://evil.example/", "javascript:alert(1)"]) {
      expect({ evil, went: await landing(evil) }).toEqual({ evil, went: "/conversations" });
    }
    // same origin, but a path that starts with // once resolved: it must stay on this site
    for (const tricky of ["/.//evil.example", "/a/..//evil.example", "/%2e//evil.example", here]) {
      expect({ tricky, stayed: new URL(await landingUrl(tricky)).origin }).toEqual({ tricky, stayed: web.edge.url });
    }
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("conversation page", () => {
  test("a group says who is in it and when someone leaves; a conversation with a member you blocked says why you cannot write", async () => {
    const [a, b, c, d] = [await register(web), await register(web), await register(web), await register(web)];
    const conv = (await a.call("POST", "/api/conversations", { handles: [b.handle, c.handle, d.handle], title: "Trio" })).json.conversation.id as string;
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/conversation?id=${conv}`);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    await until("the members line", async () => ((await page.textContent("#members")) ?? "").includes(b.handle));
    expect(await page.textContent("#members")).toContain(c.handle);
    expect((await b.call("POST", `/api/conversations/${conv}/leave`)).status).toBe(200);
    // a line in the thread, where it happened
    await until("the leave in the thread", async () => ((await page.textContent("#thread li.system")) ?? "").includes("left the group"), 20_000);
    await until("b gone from the members line", async () => !((await page.textContent("#members")) ?? "").includes(b.handle));
    // d writes, then deletes their account: the open page drops d's message, as the server does
    expect((await d.call("POST", "/api/messages", { id: crypto.randomUUID(), conversationId: conv, body: "soon gone" })).status).toBe(200);
    await until("d's message", async () => ((await page.textContent("#thread")) ?? "").includes("soon gone"));
    expect((await d.call("DELETE", "/api/me", { password: d.password })).status).toBe(200);
    await until("d's message dropped", async () => !((await page.textContent("#thread")) ?? "").includes("soon gone"), 20_000);

    const direct = (await a.call("POST", "/api/conversations", { handles: [c.handle] })).json.conversation.id as string;
    expect((await a.call("POST", `/api/users/${c.handle}/block`)).status).toBe(200);
    await page.goto(`${web.edge.url}/conversation?id=${direct}`);
    await until("the notice", async () => !(await page.$eval("#blocked-notice", (el) => (el as HTMLElement).hidden)));
    expect(await page.textContent("#blocked-notice")).toContain("You blocked");
    expect(await page.$eval("#composer", (el) => (el as HTMLElement).hidden)).toBe(true);
    // unblocked from the profile in another tab: this page takes the composer back, no reload
    const profile = await ctx.newPage();
    profile.on("dialog", (d) => void d.accept());
    await profile.goto(`${web.edge.url}/u/${c.handle}`);
    await until("the Unblock button", async () => (await profile.getAttribute("#block", "aria-pressed")) === "true");
    await profile.click("#block");
    await until("unblocked", async () => (await profile.getAttribute("#block", "aria-pressed")) === "false");
    await until("the composer back", async () => !(await page.$eval("#composer", (el) => (el as HTMLElement).hidden)));
    expect(await page.$eval("#blocked-notice", (el) => (el as HTMLElement).hidden)).toBe(true);
    // blocked again, then unblocked from Settings' list in another tab: the same
    expect((await a.call("POST", `/api/users/${c.handle}/block`)).status).toBe(200);
    await page.reload();
    await until("the notice again", async () => !(await page.$eval("#blocked-notice", (el) => (el as HTMLElement).hidden)));
    await profile.goto(`${web.edge.url}/settings`);
    await profile.click(`#blocks button[aria-label="Unblock @${c.handle}"]`);
    await until("the composer back after Settings", async () => !(await page.$eval("#composer", (el) => (el as HTMLElement).hidden)));
    await ctx.close();
  }, 60_000);

  test("a group can be left from its page: back to the list, without it", async () => {
    const [a, b, c] = [await register(web), await register(web), await register(web)];
    const made = await a.call("POST", "/api/conversations", { handles: [b.handle, c.handle], title: "Leavers" });
    const conv = made.json.conversation.id as string;
    const ctx = await signedIn(web, b);
    const page = await ctx.newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${web.edge.url}/conversation?id=${conv}`);
    await until("the leave button", async () => !(await page.$eval("#leave", (el) => (el as HTMLElement).hidden)));
    await page.click("#leave");
    await until("back on the list", async () => new URL(page.url()).pathname === "/conversations");
    await Bun.sleep(300);
    expect(await page.textContent("main")).not.toContain("Leavers");
    expect(((await b.call("GET", "/api/conversations")).json.conversations as { id: string }[]).map((x) => x.id)).not.toContain(conv);
    // a direct conversation has no such button
    const direct = await b.call("POST", "/api/conversations", { handles: [a.handle] });
    await page.goto(`${web.edge.url}/conversation?id=${direct.json.conversation.id}`);
    await until("the title", async () => (await page.textContent("#title")) !== "Chat");
    expect(await page.$eval("#leave", (el) => (el as HTMLElement).hidden)).toBe(true);
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("every signed-in page", () => {
  test("a message on another page raises the Chats badge and the title's count; reading it clears both", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/u/${a.handle}`);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    const badge = () => page.$eval("[data-chats-badge]", (el) => ((el as HTMLElement).hidden ? "" : el.textContent));
    expect(await badge()).toBe("");
    await sendOverHttp(a, conv, "ping from a");
    await until("chats badge 1", async () => (await badge()) === "1", 20_000);
    await until("the title counts it, after the page named itself", async () => (await page.title()).startsWith("(1) "));
    expect(await page.getAttribute("#nav-chats", "aria-label")).toBe("Chats, 1 with unread messages");
    await page.goto(`${web.edge.url}/conversation?id=${conv}`);
    await until("read: the badge is gone", async () => (await badge()) === "", 20_000);
    expect(await page.title()).not.toMatch(/^\(/);
    await ctx.close();
  }, 60_000);

  test("signing out goes to the landing page without saying the session was ended elsewhere", async () => {
    const a = await register(web);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/settings`);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    await page.click("#sign-out");
    await until("on the landing page", async () => new URL(page.url()).pathname === "/");
    await Bun.sleep(300);
    expect(new URL(page.url()).search).not.toContain("ended");
    expect(await page.textContent("#login-status")).not.toMatch(/ended/);
    await ctx.close();
  }, 60_000);

  test("signing out in one tab takes the browser's other tabs to the landing page quietly too", async () => {
    const a = await register(web);
    const ctx = await signedIn(web, a);
    const [one, two] = [await ctx.newPage(), await ctx.newPage()];
    await one.goto(`${web.edge.url}/settings`);
    await two.goto(`${web.edge.url}/conversations`);
    for (const p of [one, two]) await until("ws mode", async () => (await modeOf(p)) === "ws");
    await one.click("#sign-out");
    await until("the other tab on the landing page", async () => new URL(two.url()).pathname === "/", 20_000);
    await Bun.sleep(300);
    expect(new URL(two.url()).search).not.toContain("ended");
    await ctx.close();
  }, 60_000);

  test("settings: a bio too long is refused before sending, the field marked and focused", async () => {
    const a = await register(web);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/settings`);
    await until("the profile form", async () => (await page.inputValue("#displayName")) !== "");
    await page.fill("#bio", "x".repeat(501));
    await page.click("#profile button[type=submit]");
    await until("refused", async () => ((await page.textContent("#profile-status")) ?? "").includes("at most 500"));
    expect(await page.getAttribute("#bio", "aria-invalid")).toBe("true");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("bio");
    await ctx.close();
  }, 60_000);

  test("settings: choosing who may start a conversation is kept, and a stranger is told so", async () => {
    const [a, b] = [await register(web), await register(web)];
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/settings`);
    await until("the current choice", async () => await page.isChecked('#contact input[value="everyone"]'));
    await page.check('#contact input[value="following"]');
    await page.click("#contact button[type=submit]");
    await until("saved", async () => (await page.textContent("#contact-status")) === "Saved.");
    await page.reload();
    await until("kept", async () => await page.isChecked('#contact input[value="following"]'));
    const refused = await b.call("POST", "/api/conversations", { handles: [a.handle] });
    expect([refused.status, refused.json.error.code]).toEqual([403, "not_accepting"]);
    // b's view of a's profile says so before b presses Message
    const bctx = await signedIn(web, b);
    const bpage = await bctx.newPage();
    await bpage.goto(`${web.edge.url}/u/${a.handle}`);
    await until("the hint", async () => await bpage.isVisible("#contact-hint"));
    await bctx.close();
    await ctx.close();
  }, 60_000);

  test("settings: a password changes with the current one; this page stays signed in and connected, the other device is signed out", async () => {
    const a = await register(web);
    // another device: a session of its own
    const login = await fetch(`${web.stack.api.url}/api/auth/login`, {
      method: "POST",
      headers: { origin: web.edge.origin, "content-type": "application/json" },
      body: JSON.stringify({ email: a.email, password: a.password }),
    });
    const otherSid = login.headers.getSetCookie().join(";").match(/__Host-sid=([^;]+)/)![1]!;
    const other = await signedIn(web, { ...a, sid: otherSid });
    const otherPage = await other.newPage();
    await otherPage.goto(`${web.edge.url}/conversations`);
    await until("the other device connected", async () => (await modeOf(otherPage)) === "ws");
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/settings`);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    await page.fill("#currentPassword", "not the password");
    await page.fill("#newPassword", "a much longer secret 42");
    await page.click("#password button[type=submit]");
    await until("the refusal", async () => ((await page.textContent("#password-status")) ?? "").includes("current password is wrong"));
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("currentPassword");
    await page.fill("#currentPassword", a.password);
    await page.click("#password button[type=submit]");
    await until("changed", async () => ((await page.textContent("#password-status")) ?? "").startsWith("Password changed."));
    // (same session: this browser's tabs share it; the other browser had its own)
    await until("the other device signed out", async () => new URL(otherPage.url()).pathname === "/", 20_000);
    await Bun.sleep(1000);
    expect(new URL(page.url()).pathname).toBe("/settings");
    expect(await modeOf(page)).toBe("ws");
    await other.close();
    await ctx.close();
  }, 60_000);

  test("settings: deleting the account asks for the password and a confirmation, then signs out; the account is gone", async () => {
    const [a, b] = [await register(web), await register(web)];
    await conversationBetween(b, a);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${web.edge.url}/settings`);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    await page.fill("#deletePassword", "not the password");
    await page.click("#delete-account button[type=submit]");
    await until("the refusal", async () => ((await page.textContent("#delete-status")) ?? "").includes("current password is wrong"));
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("deletePassword");
    expect((await a.call("GET", "/api/me")).status).toBe(200);
    await page.fill("#deletePassword", a.password);
    await page.click("#delete-account button[type=submit]");
    await until("on the landing page", async () => new URL(page.url()).pathname === "/", 20_000);
    expect((await a.call("GET", "/api/me")).status).toBe(401);
    expect((await b.call("GET", `/api/users/${a.handle}`)).status).toBe(404);
    // b's conversation with a is still b's
    expect((await b.call("GET", "/api/conversations")).json.conversations).toHaveLength(1);
    await ctx.close();
  }, 60_000);

  test("an emoji name's avatar shows the whole emoji, not half of it", async () => {
    const [a, b] = [await register(web), await register(web)];
    expect((await a.call("PATCH", "/api/me/profile", { displayName: "\u{1F525}Carol" })).status).toBe(200);
    await conversationBetween(a, b);
    const ctx = await signedIn(web, b);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/conversations`);
    await until("the conversation listed", async () => (await page.$$("#conversations li")).length === 1);
    expect(await page.textContent("#conversations li .avatar")).toBe("\u{1F525}");
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("conversation messages", () => {
  test("addresses are links that open apart; a refused message says so and can be retried or deleted", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    await sendOverHttp(b, conv, "see https://example.com/path?q=1, or javascript:alert(1)");
    await sendOverHttp(b, conv, "and https://ex\u0430mple.com/login");
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${web.edge.url}/conversation?id=${conv}`);
    await until("the messages", async () => (await page.$$("#thread li")).length === 2);
    const links = await page.$$eval("#thread li .text a", (as) => as.map((x) => ({ href: (x as HTMLAnchorElement).href, rel: (x as HTMLAnchorElement).rel, target: (x as HTMLAnchorElement).target, text: x.textContent })));
    expect(links).toEqual([
      { href: "https://example.com/path?q=1", rel: "noopener noreferrer nofollow ugc", target: "_blank", text: "https://example.com/path?q=1" },
      // a look-alike host is shown as where it goes
      { href: "https://xn--exmple-4nf.com/login", rel: "noopener noreferrer nofollow ugc", target: "_blank", text: "https://xn--exmple-4nf.com/login" },
    ]);

    expect((await b.call("POST", `/api/users/${a.handle}/block`)).status).toBe(200);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    await page.fill("#body", "are you there?");
    await page.press("#body", "Enter");
    await until("refused", async () => ((await page.textContent("#thread li.failed .state")) ?? "").includes("Not sent"), 20_000);
    expect(await page.$$eval("#thread li.failed .state button", (bs) => bs.map((x) => x.textContent))).toEqual(["Retry", "Delete"]);
    // still there after a reload, to retry or delete: the text written is not lost without a word
    await page.reload();
    await until("still not sent after a reload", async () => ((await page.textContent("#thread li.failed .state")) ?? "").includes("Not sent"));
    expect(await page.textContent("#thread li.failed .text")).toBe("are you there?");
    await page.click("#thread li.failed .state button:text('Delete')");
    expect(await page.$$("#thread li.failed")).toHaveLength(0);
    await page.reload();
    await until("the messages", async () => (await page.$$("#thread li")).length === 2);
    expect(await page.$$("#thread li.failed")).toHaveLength(0);
    // an empty message says why nothing happened
    await page.fill("#body", "   ");
    await page.press("#body", "Enter");
    expect(await page.textContent("#send-status")).toBe("Write something first.");
    // one the server would refuse for its length is not sent, and says by how much
    await page.$eval("#body", (el) => ((el as HTMLTextAreaElement).value = "\u{1F525}".repeat(2100)));
    await page.press("#body", "Enter");
    expect(await page.textContent("#send-status")).toContain("too long by 200");
    expect(await page.$$("#thread li.pending")).toHaveLength(0);
    await ctx.close();
  }, 60_000);

  test("a message the other member does not take (they take new conversations only from members they follow) says so once, and is not sent again", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    await sendOverHttp(a, conv, "hello there");
    expect((await b.call("PUT", "/api/me/contact-settings", { conversations: "following" })).status).toBe(200);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/conversation?id=${conv}`);
    await until("the thread", async () => (await page.$$("#thread li")).length === 1);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    await page.fill("#body", "still there?");
    await page.press("#body", "Enter");
    const state = await until("refused", async () => {
      const text = (await page.textContent("#thread li.failed .state")) ?? "";
      return text.includes("Not sent") && text;
    }, 20_000);
    expect(state).toContain("follow");
    expect(await page.$$("#thread li.pending")).toHaveLength(0);
    await ctx.close();
  }, 60_000);

  test("the connection notice stays in sight under the header however far down the page is", async () => {
    const a = await register(web);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/conversations`);
    expect(await page.$eval("#conn", (el) => el.parentElement?.classList.contains("top") && getComputedStyle(el).position)).toBe("absolute");
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("reading higher up in a conversation", () => {
  test("a message from the other member while scrolled up keeps the view and offers a way down, which leads to it", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    for (let i = 0; i < 40; i++) await sendOverHttp(b, conv, `earlier ${i}`);
    const ctx = await signedIn(web, a, { viewport: { width: 800, height: 600 } });
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/conversation?id=${conv}`);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    await until("history", async () => ((await page.textContent("#thread")) ?? "").includes("earlier 39"));
    await page.evaluate(() => scrollTo(0, 0));
    await sendOverHttp(b, conv, "while you read");
    await until("the new message", async () => ((await page.textContent("#thread")) ?? "").includes("while you read"));
    await until("the way down", async () => !(await page.$eval("#below", (el) => (el as HTMLElement).hidden)));
    expect(await page.evaluate(() => scrollY)).toBe(0);
    await page.click("#below");
    await until("at the bottom, the button gone", async () =>
      (await page.evaluate(() => innerHeight + scrollY >= document.body.scrollHeight - 120)) && (await page.$eval("#below", (el) => (el as HTMLElement).hidden)));
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("conversations page", () => {
  test("Start pressed again while the first request is on its way starts one group, not several", async () => {
    const [a, b, c] = [await register(web), await register(web), await register(web)];
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/conversations`);
    // every request to the api held 1.5 s on its way
    await page.route("**/api/conversations", async (route) => {
      if (route.request().method() === "POST") await Bun.sleep(1_500);
      await route.continue();
    });
    await page.fill("#handles", `${b.handle} ${c.handle}`);
    await page.fill("#title", "Only once");
    const submit = "#new-conversation button[type=submit]";
    await page.click(submit);
    await page.click(submit).catch(() => {});
    await page.press("#title", "Enter").catch(() => {});
    await until("the new group's page", async () => new URL(page.url()).pathname === "/conversation", 20_000);
    const list = (await a.call("GET", "/api/conversations")).json.conversations as { title: string | null }[];
    expect(list.filter((x) => x.title === "Only once")).toHaveLength(1);
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("notifications page", () => {
  test("the list is not a live region; a notification that arrives is announced once, a right-to-left name kept apart from the sentence", async () => {
    const [a, b] = [await register(web), await register(web)];
    expect((await b.call("PATCH", "/api/me/profile", { displayName: "مرحبا Hello" })).status).toBe(200);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/notifications`);
    await until("ws mode", async () => (await modeOf(page)) === "ws");
    expect(await page.getAttribute("#notifications", "aria-live")).toBeNull();
    expect((await b.call("POST", `/api/users/${a.handle}/follow`)).status).toBe(200);
    await until("the row", async () => (await page.$$("#notifications li")).length === 1, 20_000);
    const text = await page.textContent("#notifications li a");
    expect(text).toBe("\u2068مرحبا Hello\u2069 followed you");
    // the sentence reads in the page's direction: the name does not turn it around
    expect(await page.$eval("#notifications li a", (el) => el.matches(":dir(ltr)"))).toBe(true);
    await until("announced", async () => (await page.textContent("#announce")) === text);
    await ctx.close();
  }, 60_000);


  test("opening a notification reads it", async () => {
    const [a, b] = [await register(web), await register(web)];
    expect((await b.call("POST", `/api/users/${a.handle}/follow`)).status).toBe(200);
    await until("a's notification", async () => (await a.call("GET", "/api/notifications/unread-count")).json.unread === 1, 20_000);
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    await page.goto(`${web.edge.url}/notifications`);
    await until("the row", async () => (await page.$$("#notifications li.unread")).length === 1);
    await page.click("#notifications li.unread a");
    await until("on the follower's profile", async () => new URL(page.url()).pathname === `/u/${b.handle}`);
    await until("read", async () => (await a.call("GET", "/api/notifications/unread-count")).json.unread === 0, 20_000);
    await ctx.close();
  }, 60_000);
});
