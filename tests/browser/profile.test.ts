/**
 * The profile page in a real browser (Debian's Chromium through playwright-core), against the api
 * and a chat replica as processes, through nginx over TLS: what its buttons and lists show after
 * the member acts on them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { missing, register, signedIn, startWeb, until, type Web } from "./web.ts";

const why = missing();
if (why) console.warn(`tests/browser/profile.test.ts skipped: ${why}`);

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
