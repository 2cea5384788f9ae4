/**
 * Every page in a real browser through nginx over TLS, desktop (light) and phone (dark), starting
 * from the landing page's registration form. Writes test-results/screenshots/<page>-<desktop|phone>.png
 * (or docs/screenshots/, the copies the README shows, with UPDATE_SCREENSHOTS=1) and checks that no
 * request leaves the site's origin.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { missing, modeOf, register, sendOverHttp, startWeb, until, type Web } from "./web.ts";

const why = missing();
const OUT = resolve(import.meta.dir, process.env.UPDATE_SCREENSHOTS === "1" ? "../../docs/screenshots" : "../../test-results/screenshots");
let web: Web;
beforeAll(async () => {
  if (why) return;
  web = await startWeb();
}, 90_000);
afterAll(async () => {
  await web?.stop();
});

/** Loaded, and the page's own requests answered (the real-time socket never goes idle). */
async function settle(page: Page) {
  await page.waitForLoadState("load");
  await until("the page to render", async () => (await page.evaluate(() => document.body.dataset.rt ?? "")) !== "" || !(await page.$("#conn")));
  await Bun.sleep(600);
}

const foreign: string[] = [];
function watch(ctx: BrowserContext) {
  ctx.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(web.edge.origin + "/") && !url.startsWith("data:") && !url.startsWith("blob:")) foreign.push(url);
  });
}

describe.skipIf(!!why)("pages in a real browser", () => {
  test("register through the landing page, use every page, screenshot each on desktop and phone", async () => {
    mkdirSync(OUT, { recursive: true });
    const desktop = await web.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, colorScheme: "light" });
    watch(desktop);
    const page = await desktop.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // (An intended 4xx answer, such as a refused form, makes Chromium log "Failed to load resource": not a page error.)
    page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));

    await page.goto(web.edge.url + "/");
    await page.screenshot({ path: `${OUT}/index-desktop.png`, fullPage: true });

    // Under 18: refused by the page before anything is sent.
    const handle = `s_${Date.now().toString(36)}`;
    await page.fill("#reg-email", `${handle}@example.test`);
    await page.fill("#reg-handle", handle);
    await page.fill("#reg-password", "correct horse battery");
    const young = new Date();
    young.setFullYear(young.getFullYear() - 17);
    await page.fill("#reg-birth", young.toISOString().slice(0, 10));
    await page.check("#reg-adult");
    await page.check("#reg-terms");
    await page.click("#register button[type=submit]");
    await until("the age message", async () => /18/.test((await page.textContent("#register-status")) ?? ""));
    expect(page.url()).toBe(web.edge.url + "/");
    // the browser's own check (a short password) clears the earlier message instead of leaving it up
    await page.fill("#reg-password", "short");
    await page.click("#register button[type=submit]");
    await until("the age message gone", async () => ((await page.textContent("#register-status")) ?? "") === "");
    await page.fill("#reg-password", "correct horse battery");

    // a taken handle reads as a sentence for people, not the api's words
    const taken = await register(web);
    await page.fill("#reg-birth", "1990-04-01");
    await page.fill("#reg-handle", taken.handle);
    await page.click("#register button[type=submit]");
    await until("the taken-handle message", async () => ((await page.textContent("#register-status")) ?? "") === "That handle is taken. Try another one.");
    await page.fill("#reg-handle", handle);

    await page.fill("#reg-birth", "1990-04-01");
    await Promise.all([page.waitForURL(/\/conversations$/), page.click("#register button[type=submit]")]);

    // Someone to talk to, with a message waiting.
    const other = await register(web);
    await page.fill("#handles", other.handle);
    await Promise.all([page.waitForURL(/\/conversation\?id=/), page.click("#new-conversation button[type=submit]")]);
    const conv = new URL(page.url()).searchParams.get("id")!;
    await until("ws", async () => (await modeOf(page)) === "ws");
    await sendOverHttp(other, conv, "Hi! Nice profile :)");
    await page.fill("#body", "Hello there, how are you?");
    await page.press("#body", "Enter");
    await until("two messages", async () => (await page.$$("#thread li:not(.pending)")).length === 2);
    await other.call("POST", `/api/users/${handle}/follow`);
    await other.call("PATCH", "/api/me/profile", { displayName: "Sam Other", bio: "Night owl. Coffee first." });

    const shots: [string, string][] = [
      ["conversations", "/conversations"],
      ["conversation", `/conversation?id=${conv}`],
      ["notifications", "/notifications"],
      ["profile", `/u/${other.handle}`],
      ["settings", "/settings"],
    ];
    for (const [name, path] of shots) {
      await page.goto(web.edge.url + path);
      await settle(page);
      await page.screenshot({ path: `${OUT}/${name}-desktop.png`, fullPage: true });
    }

    // Reacting to a profile: pressed with its count, kept across a reload, taken back with a second click.
    await page.goto(web.edge.url + `/u/${other.handle}`);
    const heart = '#reactions button[data-reaction="heart"]';
    await page.waitForSelector(`${heart}:not([hidden])`);
    const heartState = () => page.$eval(heart, (b) => [b.getAttribute("aria-pressed"), b.getAttribute("aria-label")]);
    expect(await heartState()).toEqual(["false", "Love: 0"]);
    await page.click(heart);
    await page.waitForSelector(`${heart}[aria-pressed="true"]`);
    expect(await heartState()).toEqual(["true", "Love: 1"]);
    await page.reload();
    await page.waitForSelector(`${heart}[aria-pressed="true"]`);
    expect(await heartState()).toEqual(["true", "Love: 1"]);
    await page.screenshot({ path: `${OUT}/profile-reacted-desktop.png`, fullPage: true });
    await page.click(heart);
    await page.waitForSelector(`${heart}[aria-pressed="false"]`);
    expect(await heartState()).toEqual(["false", "Love: 0"]);

    // The same member on a phone, dark theme.
    const phone = await web.browser.newContext({
      ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "dark", deviceScaleFactor: 1,
    });
    watch(phone);
    await phone.addCookies((await desktop.cookies()).filter((c) => c.name === "__Host-sid"));
    const mobile: Page = await phone.newPage();
    mobile.on("pageerror", (e) => errors.push(e.message));
    for (const [name, path] of shots) {
      await mobile.goto(web.edge.url + path);
      await settle(mobile);
      await mobile.screenshot({ path: `${OUT}/${name}-phone.png`, fullPage: true });
    }
    const anon = await web.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, isMobile: true, colorScheme: "dark" });
    watch(anon);
    const landing = await anon.newPage();
    await landing.goto(web.edge.url + "/");
    await landing.screenshot({ path: `${OUT}/index-phone.png`, fullPage: true });

    // The theme toggle overrides the system preference and is remembered.
    await mobile.goto(web.edge.url + "/settings");
    expect(await mobile.evaluate(() => matchMedia("(prefers-color-scheme: dark)").matches)).toBe(true);
    await mobile.click("#theme-toggle");
    expect(await mobile.evaluate(() => document.documentElement.dataset.theme)).toBe("light");
    await mobile.reload();
    expect(await mobile.evaluate(() => document.documentElement.dataset.theme)).toBe("light");

    // Keyboard: the skip link is the first stop and leads to the content.
    await page.goto(web.edge.url + "/settings");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.className)).toBe("skip");

    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await Promise.all([desktop.close(), phone.close(), anon.close()]);
  }, 120_000);
});
