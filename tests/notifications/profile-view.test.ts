import { afterAll, beforeAll, expect, test } from "bun:test";
import { startStack, type Stack } from "../harness/stack.ts";
import { member } from "../chat/fixtures.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ chatReplicas: 1, worker: true });
}, 60_000);
afterAll(() => stack?.stop());

test("viewing someone's profile notifies them once per viewer and hour; your own profile does not", async () => {
  const owner = await member(stack);
  const viewer = await member(stack);
  for (let i = 0; i < 3; i++) expect((await viewer.http.get(`/api/users/${owner.handle}`)).status).toBe(200);
  expect((await owner.http.get(`/api/users/${owner.handle}`)).status).toBe(200);

  let items: any[] = [];
  for (let i = 0; i < 50 && items.length === 0; i++) {
    items = (await owner.http.get("/api/notifications")).json.items ?? [];
    if (!items.length) await Bun.sleep(200);
  }
  await Bun.sleep(500);
  items = (await owner.http.get("/api/notifications")).json.items;
  expect(items.length).toBe(1);
  expect(items[0].type).toBe("profile_view");
  expect(items[0].count ?? 1).toBe(1);
}, 30_000);
