/**
 * Pages in a real browser (Debian's Chromium through playwright-core), against the api and a chat
 * replica as processes, through nginx over TLS: where the landing page sends a member, what the
 * profile page shows after the member acts on it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { missing, register, signedIn, startWeb, until, type Web } from "./web.ts";

const why = missing();
if (why) console.warn(`tests/browser/pages.test.ts skipped: ${why}`);

let web: Web;
beforeAll(async () => {
  if (why) return;
  web = await startWeb({ noWsEdge: true });
}, 90_000);
afterAll(async () => {
  await web?.stop();
});

describe.skipIf(!!why)("profile page", () => {
  test("blocking from a profile shows what the block did: no follow either way, nothing to press but Unblock", async () => {
    const [a, b] = [await register(web), await register(web)];
    const ctx = await signedIn(web, a);
    const page = await ctx.newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${web.edge.url}/u/${b.handle}`);
    const followers = () => page.$$eval("#people li", (lis) => lis.map((li) => li.textContent ?? ""));
    const disabled = (sel: string) => page.$eval(sel, (el) => (el as HTMLButtonElement).disabled);
    await until("the profile", async () => (await page.textContent("#handle")) === `@${b.handle}`);

    await page.click("#follow");
    await until("a among b's followers", async () => (await followers()).some((t) => t.includes(`@${a.handle}`)));

    await page.click("#block");
    await until("blocked", async () => (await page.textContent("#block")) === "Unblock");
    await until("a gone from b's followers", async () => !(await followers()).some((t) => t.includes(`@${a.handle}`)));
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
    const landing = async (next: string) => {
      await page.goto(`${web.edge.url}/?next=${next}`);
      await until("left the landing page", async () => new URL(page.url()).pathname !== "/" || new URL(page.url()).origin !== web.edge.url);
      const url = new URL(page.url());
      return url.origin === web.edge.url ? url.pathname + url.search : url.href;
    };
    expect(await landing(encodeURIComponent("/settings?x=1"))).toBe("/settings?x=1");
    // what browsers read as another host: a backslash, a tab or a newline after the slash, a scheme
    for (const evil of ["/%5Cevil.example/phish", "/%09/evil.example/phish", "/%0A/evil.example", "//evil.example", "https://evil.example/", "javascript:alert(1)"]) {
      expect({ evil, went: await landing(evil) }).toEqual({ evil, went: "/conversations" });
    }
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("conversation page", () => {
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
