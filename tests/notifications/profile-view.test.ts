import { afterAll, beforeAll, expect, test } from "bun:test";
import { startStack, type Stack } from "../harness/stack.ts";
import { member } from "../chat/fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 1, worker: true });
}, 60_000);
afterAll(() => stack?.stop());

/** The member's notifications once the first has come and the worker had half a second more for any other. */
async function settledNotifications(owner: Awaited<ReturnType<typeof member>>): Promise<any[]> {
  for (let i = 0; i < 50; i++) {
    if (((await owner.http.get("/api/notifications")).json.items ?? []).length) break;
    await Bun.sleep(200);
  }
  await Bun.sleep(500);
  return (await owner.http.get("/api/notifications")).json.items;
}

test("viewing someone's profile notifies them once per viewer and hour; your own profile does not", async () => {
  const owner = await member(stack);
  const viewer = await member(stack);
  for (let i = 0; i < 3; i++) expect((await viewer.http.get(`/api/users/${owner.handle}`)).status).toBe(200);
  expect((await owner.http.get(`/api/users/${owner.handle}`)).status).toBe(200);

  const items = await settledNotifications(owner);
  expect(items.length).toBe(1);
  expect(items[0].type).toBe("profile_view");
  expect(items[0].count ?? 1).toBe(1);
}, 30_000);

test("a member one blocked is not told of one's visits (it would say who blocked them)", async () => {
  const owner = await member(stack);
  const blocker = await member(stack);
  const control = await member(stack);
  expect((await blocker.http.post(`/api/users/${owner.handle}/block`)).status).toBe(200);
  expect((await blocker.http.get(`/api/users/${owner.handle}`)).status).toBe(200);
  // a visit after it, by someone else, shows the worker has caught up with the blocker's
  expect((await control.http.get(`/api/users/${owner.handle}`)).status).toBe(200);
  const items = await settledNotifications(owner);
  // (views of one profile within the hour are one row: its actors say who)
  expect(items.map((n: any) => [n.type, n.count ?? 1, n.actors.map((a: any) => a.handle)])).toEqual([["profile_view", 1, [control.handle]]]);
}, 30_000);

test("a profile opened from another site (a link that navigates to the api) is shown but not counted as a visit", async () => {
  const owner = await member(stack);
  const lured = await member(stack);
  const control = await member(stack);
  for (const site of ["cross-site", "same-site", "none"]) {
    expect((await lured.http.request("GET", `/api/users/${owner.handle}`, undefined, { headers: { "sec-fetch-site": site } })).status).toBe(200);
  }
  expect((await control.http.request("GET", `/api/users/${owner.handle}`, undefined, { headers: { "sec-fetch-site": "same-origin" } })).status).toBe(200);
  const items = await settledNotifications(owner);
  expect(items.map((n: any) => [n.type, n.count ?? 1, n.actors.map((a: any) => a.handle)])).toEqual([["profile_view", 1, [control.handle]]]);
}, 30_000);
