/**
 * The real-time client in a real browser (Debian's Chromium through playwright-core), against the
 * api, two chat replicas and the notification worker as processes, through nginx over TLS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import {
  chatCounts, conversationBetween, setOffline, hasWorker, missing, modeOf, register, sendOverHttp, signedIn, startWeb, threadOf, transportOf, until,
  type Web,
} from "./web.ts";

const why = missing();
if (why) console.warn(`tests/browser/realtime.test.ts skipped: ${why}`);

let web: Web;
beforeAll(async () => {
  if (why) return;
  // A frame budget well below the default (50/s, burst 100), so one member's burst of messages meets it.
  web = await startWeb({ worker: hasWorker(), noWsEdge: true, env: { CHAT_RATE_PER_SECOND: "20", CHAT_RATE_BURST: "30" } });
}, 90_000);
afterAll(async () => {
  await web?.stop();
});

async function openTabs(ctx: Awaited<ReturnType<typeof signedIn>>, url: string, count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const page = await ctx.newPage();
    page.on("pageerror", (err) => console.error(`[tab ${i}] ${err.message}`));
    await page.goto(url);
    pages.push(page);
  }
  return pages;
}

/** Every tab shows exactly `expected`, in order, each once. */
async function expectThreads(pages: Page[], expected: string[]) {
  for (const [i, page] of pages.entries()) {
    await until(`tab ${i} to show ${expected.length} messages`, async () => (await threadOf(page)).length >= expected.length);
    await Bun.sleep(200); // a duplicate would arrive right after
    expect(await threadOf(page)).toEqual(expected);
  }
}

/** Frames the replicas' frame budgets dropped so far (their /metrics). */
async function framesRateLimited(web: Web): Promise<number> {
  let total = 0;
  for (const c of web.stack.chats) {
    const text = await (await fetch(`${c.url}/metrics`)).text();
    total += Number(/^chat_frames_rate_limited_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return total;
}

const texts = (prefix: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix} ${from + i}`);

describe.skipIf(!!why)("one connection per browser", () => {
  test("3 tabs share one SharedWorker socket; 10 messages once, in order, in every tab; closing the first tab changes nothing", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b);
    const tabs = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 3);
    for (const t of tabs) await until("ws mode", async () => (await modeOf(t)) === "ws");
    expect(await Promise.all(tabs.map(transportOf))).toEqual(["shared-worker", "shared-worker", "shared-worker"]);
    await Bun.sleep(300);
    expect(await chatCounts(web)).toEqual({ sockets: 1, members: 1 });

    const sent = texts("hello", 1, 10);
    for (const body of sent) await sendOverHttp(a, conv, body);
    await expectThreads(tabs, sent);

    // The tab that started the worker goes away; the worker (and its socket) stays.
    await tabs[0]!.close();
    const more = texts("after close", 1, 5);
    for (const body of more) await sendOverHttp(a, conv, body);
    await expectThreads(tabs.slice(1), [...sent, ...more]);
    expect(await chatCounts(web)).toEqual({ sockets: 1, members: 1 });

    // A message B sends from one tab shows once in both tabs (optimistic copy matched by client id).
    await tabs[1]!.fill("#body", "from b");
    await tabs[1]!.press("#body", "Enter");
    await expectThreads(tabs.slice(1), [...sent, ...more, "from b"]);
    await until("B's message to be confirmed", async () => (await tabs[1]!.$$("#thread li.pending")).length === 0);
    await ctx.close();
    await until("the socket to close with the last tab", async () => (await chatCounts(web)).sockets === 0);
  }, 60_000);
});

describe.skipIf(!!why)("messages written as the page goes away", () => {
  test("sends the engine never got before the page closed are sent by the next page, once each, in order, and shown pending until then", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, a);
    const url = `${web.edge.url}/conversation?id=${conv}`;
    const [first] = await openTabs(ctx, url, 1);
    await until("ws mode", async () => (await modeOf(first!)) === "ws");
    // The worker never hears of these five, as when a tab closes right after writing them (seen:
    // 12 of 40 messages lost for good when the sender closed the tab at once).
    await first!.evaluate((cid) => {
      const rt = (globalThis as any).__xplicitRealtime;
      rt.post = () => {};
      for (let i = 1; i <= 5; i++) rt.send(cid, `written at the last moment ${i}`);
    }, conv);
    await first!.close();
    await until("the worker and its socket to be gone", async () => (await chatCounts(web)).sockets === 0);

    const [next] = await openTabs(ctx, url, 1);
    const written = texts("written at the last moment", 1, 5);
    await until("all five stored", async () => {
      const h = await a.call("GET", `/api/conversations/${conv}/messages?limit=50`);
      return h.json.messages.length >= 5;
    }, 20_000);
    await until("the page to show them confirmed", async () => (await next!.$$("#thread li.pending")).length === 0 && (await threadOf(next!)).length === 5);
    expect(await threadOf(next!)).toEqual(written);
    // nothing is left to send again: a reload writes nothing twice
    await next!.reload();
    await until("ws mode", async () => (await modeOf(next!)) === "ws");
    await Bun.sleep(1000);
    const history = await a.call("GET", `/api/conversations/${conv}/messages?limit=50`);
    expect(history.json.messages.map((m: { body: string }) => m.body).sort()).toEqual([...written].sort());
    expect(await next!.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("xplicit-rt-pending:")))).toEqual([]);
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("without SharedWorker: a leader tab (Web Locks + BroadcastChannel)", () => {
  test("one socket for 3 tabs; closing the leader hands over without losing or doubling a message", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b, { noSharedWorker: true });
    const tabs = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 3);
    for (const t of tabs) await until("ws mode", async () => (await modeOf(t)) === "ws");
    const roles = await Promise.all(tabs.map(transportOf));
    expect(roles.filter((r) => r === "leader").length).toBe(1);
    expect(roles.filter((r) => r === "follower").length).toBe(2);
    await Bun.sleep(300);
    expect(await chatCounts(web)).toEqual({ sockets: 1, members: 1 });

    const first = texts("before handover", 1, 10);
    for (const body of first) await sendOverHttp(a, conv, body);
    await expectThreads(tabs, first);

    // Close the leader and send at once, while no tab holds a socket.
    const leader = tabs[roles.indexOf("leader")]!;
    const rest = tabs.filter((t) => t !== leader);
    await leader.close({ runBeforeUnload: false });
    const second = texts("during handover", 1, 5);
    for (const body of second) await sendOverHttp(a, conv, body);
    await until("a new leader", async () => (await Promise.all(rest.map(transportOf))).includes("leader"));
    await expectThreads(rest, [...first, ...second]);
    await until("one socket again", async () => (await chatCounts(web)).sockets === 1);

    // A send from the follower goes through the new leader and shows once everywhere.
    const follower = rest[(await Promise.all(rest.map(transportOf))).indexOf("follower")]!;
    await follower.fill("#body", "via the leader");
    await follower.press("#body", "Enter");
    await expectThreads(rest, [...first, ...second, "via the leader"]);
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("without SharedWorker, offline", () => {
  test("messages written offline in the leader tab and in another are all sent by the tab left after the leader closes, in the order written", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b, { noSharedWorker: true });
    const tabs = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 2);
    for (const t of tabs) await until("ws mode", async () => (await modeOf(t)) === "ws");
    const roles = await Promise.all(tabs.map(transportOf));
    const leader = tabs[roles.indexOf("leader")]!;
    const other = tabs[roles.indexOf("follower")]!;
    await setOffline(web, ctx, true);
    for (const t of tabs) await until("offline mode", async () => (await modeOf(t)) === "offline", 20_000);
    const write = async (page: Page, body: string) => {
      await page.fill("#body", body);
      await page.press("#body", "Enter");
    };
    await write(leader, "leader 1");
    await write(other, "other 1");
    await write(leader, "leader 2");
    await Bun.sleep(300);
    await leader.close({ runBeforeUnload: false });
    await setOffline(web, ctx, false);
    await until("the other tab leads", async () => (await transportOf(other)) === "leader", 20_000);
    const history = async () => ((await a.call("GET", `/api/conversations/${conv}/messages`)).json.messages as { body: string }[]).map((m) => m.body).reverse();
    await until("all three sent", async () => (await history()).length === 3, 30_000);
    expect(await history()).toEqual(["leader 1", "other 1", "leader 2"]);
    await ctx.close();
  }, 90_000);
});

describe.skipIf(!!why)("when WebSockets cannot connect", () => {
  test("the client falls back to HTTP long-poll and POST: messages still flow both ways", async () => {
    const origin = web.noWsEdge!.origin;
    const [a, b] = [await register(web, origin), await register(web, origin)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b, { origin });
    const tabs = await openTabs(ctx, `${web.noWsEdge!.url}/conversation?id=${conv}`, 2);
    for (const t of tabs) await until("http mode", async () => (await modeOf(t)) === "http", 20_000);
    expect((await chatCounts(web)).members).toBe(0);

    const sent = texts("polled", 1, 5);
    for (const body of sent) await sendOverHttp(a, conv, body);
    await expectThreads(tabs, sent);

    await tabs[0]!.fill("#body", "posted");
    await tabs[0]!.press("#body", "Enter");
    await expectThreads(tabs, [...sent, "posted"]);
    const history = await a.call("GET", `/api/conversations/${conv}/messages?limit=50`);
    expect(history.json.messages.map((m: { body: string }) => m.body).filter((t: string) => t === "posted").length).toBe(1);
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("offline and back", () => {
  test("messages sent to and by B while B is offline appear once when B is back", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b);
    const tabs = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 2);
    for (const t of tabs) await until("ws mode", async () => (await modeOf(t)) === "ws");
    await sendOverHttp(a, conv, "online 1");
    await expectThreads(tabs, ["online 1"]);

    await setOffline(web, ctx, true);
    for (const t of tabs) await until("offline mode", async () => (await modeOf(t)) === "offline", 20_000);
    await until("B's socket to be gone", async () => (await chatCounts(web)).sockets === 0);
    const missed = texts("while offline", 1, 3);
    for (const body of missed) await sendOverHttp(a, conv, body);
    await tabs[1]!.fill("#body", "queued offline");
    await tabs[1]!.press("#body", "Enter");
    await Bun.sleep(500);
    expect(await threadOf(tabs[0]!)).toEqual(["online 1"]);

    await setOffline(web, ctx, false);
    for (const t of tabs) await until("ws again", async () => (await modeOf(t)) === "ws", 40_000);
    await until("the missed messages", async () => (await threadOf(tabs[0]!)).length >= 5, 20_000);
    await Bun.sleep(500);
    // Both tabs show the server's order: the sending tab's optimistic copy moves below the messages
    // stored before it once it is confirmed.
    await until("the sending tab's copy confirmed", async () => (await tabs[1]!.$$("#thread li.pending")).length === 0);
    expect(await threadOf(tabs[0]!)).toEqual(["online 1", ...missed, "queued offline"]);
    expect(await threadOf(tabs[1]!)).toEqual(["online 1", ...missed, "queued offline"]);
    expect(await tabs[1]!.$$("#thread li.pending")).toHaveLength(0);
    const history = await a.call("GET", `/api/conversations/${conv}/messages?limit=50`);
    expect(history.json.messages.filter((m: { body: string }) => m.body === "queued offline").length).toBe(1);
    await ctx.close();
  }, 90_000);
});

describe.skipIf(!!why)("sending faster than the chat tier takes frames", () => {
  test("150 messages written at once: the frame budget refuses some, and every one still arrives once, in the order written, for both members", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const [ctxA, ctxB] = [await signedIn(web, a), await signedIn(web, b)];
    const [pageA] = await openTabs(ctxA, `${web.edge.url}/conversation?id=${conv}`, 1);
    const [pageB] = await openTabs(ctxB, `${web.edge.url}/conversation?id=${conv}`, 1);
    for (const p of [pageA!, pageB!]) await until("ws mode", async () => (await modeOf(p)) === "ws");
    const refusedBefore = await framesRateLimited(web);
    const written = texts("flood", 1, 150);
    await pageA!.evaluate((bodies) => {
      const input = document.querySelector<HTMLTextAreaElement>("#body")!;
      const form = document.querySelector<HTMLFormElement>("#composer")!;
      for (const body of bodies) {
        input.value = body;
        form.requestSubmit();
      }
    }, written);
    for (const p of [pageB!, pageA!]) {
      await until("all 150 shown and confirmed", async () => (await threadOf(p)).length >= 150 && (await p.$$("#thread li.pending")).length === 0, 60_000);
      expect(await threadOf(p)).toEqual(written);
    }
    const stored: string[] = [];
    let before = "";
    for (;;) {
      const page = await a.call("GET", `/api/conversations/${conv}/messages?limit=100${before}`);
      const batch = page.json.messages as { id: string; body: string }[];
      stored.unshift(...batch.map((m) => m.body).reverse());
      if (batch.length < 100) break;
      before = `&before=${batch.at(-1)!.id}`;
    }
    expect(stored).toEqual(written);
    // the budget did refuse frames (else this test shows nothing about refusals)
    expect((await framesRateLimited(web)) - refusedBefore).toBeGreaterThan(0);
    await ctxA.close();
    await ctxB.close();
  }, 120_000);
});

describe.skipIf(!!why)("a replica that stops answering", () => {
  test("frozen (SIGSTOP) with the socket still open: the client gives it up, resumes elsewhere and misses nothing", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    await until("no other socket open", async () => (await chatCounts(web)).sockets === 0);
    const ctx = await signedIn(web, b);
    const [page] = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 1);
    await until("ws mode", async () => (await modeOf(page!)) === "ws");
    await sendOverHttp(a, conv, "before");
    await until("before", async () => (await threadOf(page!)).includes("before"));
    const sockets = await Promise.all(web.stack.chats.map(async (c) => ((await (await fetch(`${c.url}/status`)).json()) as { sockets: number }).sockets));
    const frozen = web.stack.chats[sockets.findIndex((n) => n > 0)]!;
    process.kill(frozen.proc.pid, "SIGSTOP");
    try {
      await sendOverHttp(a, conv, "during the freeze");
      // b writes too: its send goes unanswered, which makes the client check the socket at once
      // (the heartbeat alone, every 25 s, would find it out only after a minute)
      await page!.fill("#body", "from b, frozen");
      await page!.press("#body", "Enter");
      await until("both messages, within well under the heartbeat's minute", async () => {
        const shown = await threadOf(page!);
        return shown.includes("during the freeze") && (await page!.$$("#thread li.pending")).length === 0;
      }, 40_000);
      expect((await threadOf(page!)).toSorted()).toEqual(["before", "during the freeze", "from b, frozen"].toSorted());
      const history = await a.call("GET", `/api/conversations/${conv}/messages?limit=10`);
      expect(history.json.messages.filter((m: { body: string }) => m.body === "from b, frozen")).toHaveLength(1);
    } finally {
      process.kill(frozen.proc.pid, "SIGCONT");
    }
    await ctx.close();
  }, 90_000);
});

describe.skipIf(!!why)("every replica down, then back", () => {
  test("the client falls back to the long-poll, and is back on a socket within seconds of the replicas (not after a fixed 30 s)", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b);
    const [page] = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 1);
    await until("ws mode", async () => (await modeOf(page!)) === "ws");
    for (const c of web.stack.chats) await web.stack.kill(c);
    try {
      await until("the long-poll", async () => (await modeOf(page!)) === "http", 40_000);
      await sendOverHttp(a, conv, "while no replica runs");
      await until("delivered by the long-poll", async () => (await threadOf(page!)).includes("while no replica runs"), 30_000);
    } finally {
      for (const c of web.stack.chats) await web.stack.restart(c);
    }
    await until("a socket again, soon", async () => (await modeOf(page!)) === "ws", 12_000);
    await ctx.close();
  }, 120_000);
});

describe.skipIf(!!why || !hasWorker())("notification badge", () => {
  test("a notification raises the badge in every tab; reading it in one clears it in all", async () => {
    const [a, b] = [await register(web), await register(web)];
    const ctx = await signedIn(web, b);
    const tabs = await openTabs(ctx, `${web.edge.url}/conversations`, 2);
    for (const t of tabs) await until("ws mode", async () => (await modeOf(t)) === "ws");
    const badge = (t: Page) => t.$eval("[data-badge]", (el) => ((el as HTMLElement).hidden ? "" : el.textContent));
    expect(await Promise.all(tabs.map(badge))).toEqual(["", ""]);

    expect((await a.call("POST", `/api/users/${b.handle}/follow`)).status).toBe(200);
    for (const t of tabs) await until("badge 1", async () => (await badge(t)) === "1", 20_000);

    await tabs[0]!.goto(`${web.edge.url}/notifications`);
    await until("the notification listed", async () => (await tabs[0]!.$$("#notifications li.unread")).length === 1);
    expect(await badge(tabs[0]!)).toBe("1");
    await tabs[0]!.click("#mark-read");
    for (const t of tabs) await until("badge cleared", async () => (await badge(t)) === "", 10_000);
    expect(await tabs[0]!.$$("#notifications li.unread")).toHaveLength(0);
    await ctx.close();
  }, 60_000);

  test("a notification written while the tab was offline raises the badge once it is back (offline members get no event to replay)", async () => {
    const [a, b] = [await register(web), await register(web)];
    const ctx = await signedIn(web, b);
    const [tab] = await openTabs(ctx, `${web.edge.url}/conversations`, 1);
    await until("ws mode", async () => (await modeOf(tab!)) === "ws");
    const badge = () => tab!.$eval("[data-badge]", (el) => ((el as HTMLElement).hidden ? "" : el.textContent));
    await setOffline(web, ctx, true);
    await until("offline mode", async () => (await modeOf(tab!)) === "offline", 20_000);
    await until("B's socket to be gone", async () => (await chatCounts(web)).sockets === 0);
    expect((await a.call("POST", `/api/users/${b.handle}/follow`)).status).toBe(200);
    await until("the notification stored", async () => (await b.call("GET", "/api/notifications/unread-count")).json.unread === 1, 20_000);
    await setOffline(web, ctx, false);
    await until("ws mode again", async () => (await modeOf(tab!)) === "ws", 40_000);
    await until("badge 1", async () => (await badge()) === "1", 15_000);
    await ctx.close();
  }, 90_000);

  test("a group that counts a new event moves to the top, live and after a reload", async () => {
    const [a, b, c, d] = [await register(web), await register(web), await register(web), await register(web)];
    const ctx = await signedIn(web, b);
    const [tab] = await openTabs(ctx, `${web.edge.url}/notifications`, 1);
    await until("ws mode", async () => (await modeOf(tab!)) === "ws");
    const order = () => tab!.$$eval("#notifications li", (lis) => lis.map((li) => li.textContent ?? ""));
    expect((await a.call("POST", `/api/users/${b.handle}/follow`)).status).toBe(200);
    await until("the follow listed", async () => (await order()).length === 1, 20_000);
    expect((await c.call("PUT", `/api/users/${b.handle}/reaction`, { reaction: "fire" })).status).toBe(200);
    await until("the reaction on top", async () => (await order()).length === 2 && /reacted/.test((await order())[0]!), 20_000);
    expect((await d.call("POST", `/api/users/${b.handle}/follow`)).status).toBe(200);
    await until("the grown follow on top", async () => /and 1 other followed/.test((await order())[0]!), 20_000);
    await tab!.reload();
    await until("reloaded", async () => (await order()).length === 2);
    const reloaded = await order();
    expect(reloaded[0]).toMatch(/and 1 other followed/);
    expect(reloaded[1]).toMatch(/reacted/);
    await ctx.close();
  }, 60_000);

  test("opening the conversation a message notification is about reads that notification too", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const unread = async () => (await b.call("GET", "/api/notifications/unread-count")).json.unread as number;
    expect(await unread()).toBe(0);
    await sendOverHttp(a, conv, "while you were away"); // b has no open client: a notification
    await until("b's message notification", async () => (await unread()) === 1, 20_000);
    const ctx = await signedIn(web, b);
    const [page] = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 1);
    await until("the message shown", async () => (await threadOf(page!)).includes("while you were away"));
    await until("the notification read", async () => (await unread()) === 0, 10_000);
    await ctx.close();
  }, 60_000);

  test("messages that came while the open conversation was offline: their notification is read once it is back", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const unread = async () => (await b.call("GET", "/api/notifications/unread-count")).json.unread as number;
    const ctx = await signedIn(web, b);
    const [page] = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 1);
    await until("ws mode", async () => (await modeOf(page!)) === "ws");
    await setOffline(web, ctx, true);
    await until("offline mode", async () => (await modeOf(page!)) === "offline", 20_000);
    await until("B's socket to be gone", async () => (await chatCounts(web)).sockets === 0);
    await sendOverHttp(a, conv, "sent while you were offline");
    await until("b's message notification", async () => (await unread()) === 1, 20_000);
    await setOffline(web, ctx, false);
    await until("the message shown", async () => (await threadOf(page!)).includes("sent while you were offline"), 40_000);
    await until("the notification read without reopening the conversation", async () => (await unread()) === 0, 15_000);
    await ctx.close();
  }, 90_000);
});

describe.skipIf(!!why)("a session ended elsewhere", () => {
  test("the open page goes to sign-in, which says why, and leads back to where the member was", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, b);
    const [page] = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 1);
    await until("ws mode", async () => (await modeOf(page!)) === "ws");
    expect((await b.call("POST", "/api/auth/logout-all")).status).toBe(200); // "sign out everywhere" from another device
    await until("the sign-in page", async () => new URL(page!.url()).pathname === "/", 20_000);
    const url = new URL(page!.url());
    expect(url.searchParams.get("ended")).toBe("1");
    expect(url.searchParams.get("next")).toBe(`/conversation?id=${conv}`);
    await until("the reason shown", async () => ((await page!.textContent("#login-status")) ?? "").includes("Your session ended"));
    // someone else signs in on this browser (a shared computer): their own chats, not b's page
    const c = await register(web);
    await page!.fill("#login-email", c.email);
    await page!.fill("#login-password", c.password);
    await page!.click("#login button[type=submit]");
    await until("c's chats", async () => new URL(page!.url()).pathname === "/conversations", 20_000);
    // b signing back in from the same address goes back to the conversation
    await ctx.clearCookies();
    await page!.goto(url.href);
    await page!.fill("#login-email", b.email);
    await page!.fill("#login-password", b.password);
    await page!.click("#login button[type=submit]");
    await until("b's conversation", async () => new URL(page!.url()).pathname + new URL(page!.url()).search === `/conversation?id=${conv}`, 20_000);
    await ctx.close();
  }, 60_000);
});

describe.skipIf(!!why)("a browser that changes hands", () => {
  test("a tab of a member who signed out, back online under someone else's session, neither shows their events nor sends its queued messages as them", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    const ctx = await signedIn(web, a);
    const [page] = await openTabs(ctx, `${web.edge.url}/conversation?id=${conv}`, 1);
    await until("ws mode", async () => (await modeOf(page!)) === "ws");
    await setOffline(web, ctx, true);
    await until("offline mode", async () => (await modeOf(page!)) === "offline", 20_000);
    await page!.fill("#body", "queued by a");
    await page!.press("#body", "Enter");
    // a signed out, b signed in on this browser meanwhile
    await ctx.addCookies([{ name: "__Host-sid", value: b.sid, url: web.edge.origin + "/", secure: true, httpOnly: true, sameSite: "Lax" }]);
    await setOffline(web, ctx, false);
    await until("the tab gives up a's connection", async () => {
      const mode = await modeOf(page!).catch(() => "gone");
      return mode === "signed_out" || mode === "gone" || new URL(page!.url()).pathname === "/";
    }, 30_000);
    await Bun.sleep(1500);
    const history = (await b.call("GET", `/api/conversations/${conv}/messages?limit=50`)).json.messages as { body: string }[];
    expect(history.map((m) => m.body)).not.toContain("queued by a");
    await ctx.close();
  }, 90_000);
});

describe.skipIf(!!why)("presence and seen receipts", () => {
  test("A sees B online while B's page is open and offline after it closes; \"Seen\" once B opens the conversation", async () => {
    const [a, b] = [await register(web), await register(web)];
    const conv = await conversationBetween(a, b);
    // B has answered once: only members who wrote in a conversation are seen online by its others
    await sendOverHttp(b, conv, "hi");
    await sendOverHttp(a, conv, "are you there?");
    const ctxA = await signedIn(web, a);
    const [chat, list] = await openTabs(ctxA, `${web.edge.url}/conversation?id=${conv}`, 2);
    await list!.goto(`${web.edge.url}/conversations`);
    for (const t of [chat!, list!]) await until("ws mode", async () => (await modeOf(t)) === "ws");
    const header = () => chat!.$eval("#presence", (el) => ((el as HTMLElement).hidden ? "" : el.textContent));
    const row = () => list!.$eval(`#conversations li[data-id="${conv}"] .presence`, (el) => ((el as HTMLElement).hidden ? "" : el.textContent));
    const seen = () => chat!.$$eval("#thread li .seen", (els) => els.map((e) => e.closest("li")!.querySelector(".text")!.textContent));
    await until("both messages in the thread", async () => (await threadOf(chat!)).length === 2);
    await Bun.sleep(500);
    expect(await header()).toBe("");
    expect(await row()).toBe("");
    expect(await seen()).toEqual([]);

    // B opens the chats list: A sees B online (pushed when B's state flips), and B sees A online
    // (asked when B's page connects).
    const ctxB = await signedIn(web, b);
    const [bPage] = await openTabs(ctxB, `${web.edge.url}/conversations`, 1);
    await until("B online in A's conversation header", async () => (await header()) === "online", 20_000);
    await until("B online in A's chats list", async () => (await row()) === "online", 20_000);
    await until("A online in B's chats list", async () =>
      (await bPage!.$eval(`#conversations li[data-id="${conv}"] .presence`, (el) => ((el as HTMLElement).hidden ? "" : el.textContent))) === "online");
    expect(await seen()).toEqual([]);

    // B opens the conversation and reads it: "Seen" under A's message.
    await bPage!.goto(`${web.edge.url}/conversation?id=${conv}`);
    await until("A online in B's conversation header", async () => (await bPage!.$eval("#presence", (el) => ((el as HTMLElement).hidden ? "" : el.textContent))) === "online");
    await until("Seen under A's message", async () => (await seen()).length === 1, 20_000);
    expect(await seen()).toEqual(["are you there?"]);

    // A writes again and B, with the conversation open, reads it: the one "Seen" moves to it.
    await chat!.fill("#body", "still there?");
    await chat!.press("#body", "Enter");
    await until("the new message in B's thread", async () => (await threadOf(bPage!)).includes("still there?"));
    await until("Seen moves to the newest message", async () => (await seen())[0] === "still there?", 20_000);
    expect(await seen()).toHaveLength(1);

    // B's page (and with it B's only socket) goes away: A sees B offline.
    await ctxB.close();
    await until("B offline in A's conversation header", async () => (await header()) === "", 30_000);
    await until("B offline in A's chats list", async () => (await row()) === "", 30_000);

    // With B gone (no `read` event can come), A's conversation page reloads: "Seen" comes back from
    // B's read marker in the conversations list, under the same message only.
    await chat!.reload();
    await until("ws mode after the reload", async () => (await modeOf(chat!)) === "ws");
    await until("the messages after the reload", async () => (await threadOf(chat!)).length === 3);
    await until("Seen after the reload", async () => (await seen()).length === 1, 20_000);
    expect(await seen()).toEqual(["still there?"]);
    await ctxA.close();
  }, 90_000);
});
