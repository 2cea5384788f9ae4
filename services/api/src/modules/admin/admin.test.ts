/** Operator broadcasts: who may send one, and that it reaches every member with readable progress. */
import { expect, test, setDefaultTimeout } from "bun:test";
import { registeredClient, useTestApi } from "../../../../../tests/harness/api.ts";
import { waitForJob } from "../../../../../tests/notifications/in-process-worker.ts";
import { Queue } from "bullmq";
import { loadConfig } from "@xplicit/shared/config";
import { broadcastJobId, QUEUES } from "@xplicit/shared/modules/notifications";
import { createRedis, redisKeys } from "@xplicit/shared/redis";

// real Postgres, Redis and BullMQ on a shared machine: allow for slow moments
setDefaultTimeout(60_000);

const CERT = { "x-client-verify": "SUCCESS", "x-client-dn": "CN=operator", "x-client-fingerprint": "ab".repeat(20) };

const api = useTestApi({}, { worker: { FANOUT_BATCH_SIZE: "7" } });

test("only an admin with a verified client certificate may broadcast", async () => {
  const member = await registeredClient(api);
  const admin = await registeredClient(api);
  await api.deps.sql`update users set role = 'admin' where id = ${admin.user.id}`;
  const body = { title: "Maintenance", body: "Tonight 02:00 UTC" };

  const notAdmin = await member.client.post("/api/admin/broadcasts", body, { headers: CERT });
  expect(notAdmin.status).toBe(403);
  expect(notAdmin.json.error.code).toBe("not_admin");
  const noCert = await admin.client.post("/api/admin/broadcasts", body);
  expect(noCert.status).toBe(403);
  expect(noCert.json.error.code).toBe("client_certificate_required");
  expect((await api.client().post("/api/admin/broadcasts", body, { headers: CERT })).status).toBe(401);
  expect((await admin.client.post("/api/admin/broadcasts", { title: "" }, { headers: CERT })).status).toBe(400);
  for (const bad of [{ ...body, title: "nul\u0000" }, { ...body, body: "lone \udc00" }, { ...body, joinedSince: "-271821-04-20" }, { ...body, joinedSince: "+275760-09-13" }]) {
    const res = await admin.client.post("/api/admin/broadcasts", bad, { headers: CERT });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid");
  }
}, 30_000);

test("a broadcast reaches every member of its segment once, in batches, and its progress is readable", async () => {
  const [{ since }] = (await api.deps.sql<{ since: Date }[]>`select now() as since`) as unknown as [{ since: Date }];
  const admin = await registeredClient(api);
  await api.deps.sql`update users set role = 'admin' where id = ${admin.user.id}`;
  const reader = await registeredClient(api);
  for (let i = 0; i < 10; i++) await registeredClient(api);
  const [{ n: members }] = (await api.deps.sql<{ n: number }[]>`
    select count(*)::int as n from users where created_at >= ${since}`) as unknown as [{ n: number }];
  expect(members).toBeGreaterThan(7); // more than one batch of 7

  const res = await admin.client.post("/api/admin/broadcasts", { title: "Hello", body: "Welcome to Xplicit", joinedSince: since.toISOString() }, { headers: CERT });
  expect(res.status).toBe(202);
  expect(res.json.jobId).toBe(broadcastJobId(res.json.id));
  await waitForJob("broadcast", res.json.jobId, 60_000);

  const progress = await admin.client.get(`/api/admin/broadcasts/${res.json.id}`, { headers: CERT });
  expect(progress.status).toBe(200);
  expect(progress.json.state).toBe("completed");
  expect(progress.json.recipientsWritten).toBe(members);
  expect(progress.json.progress).toMatchObject({ written: members, scanned: members, total: members });

  const [{ n: rows, old }] = (await api.deps.sql<{ n: number; old: number }[]>`
    select count(*)::int as n, count(*) filter (where u.created_at < ${since})::int as old
    from notifications n join users u on u.id = n.user_id
    where n.type = 'broadcast' and n.subject_id = ${res.json.id}`) as unknown as [{ n: number; old: number }];
  expect(rows).toBe(members);
  expect(old).toBe(0);
  const list = await reader.client.get("/api/notifications?type=broadcast");
  expect(list.json.items).toHaveLength(1);
  expect(list.json.items[0].broadcast).toEqual({ title: "Hello", body: "Welcome to Xplicit" });
  expect((await admin.client.get("/api/admin/broadcasts/999999", { headers: CERT })).status).toBe(404);
}, 90_000);

test("a broadcast finished in Postgres reads completed, whatever BullMQ says of a job run again after a lost lock", async () => {
  const admin = await registeredClient(api);
  await api.deps.sql`update users set role = 'admin' where id = ${admin.user.id}`;
  const res = await admin.client.post("/api/admin/broadcasts", { title: "Again", body: "once", joinedSince: new Date().toISOString() }, { headers: CERT });
  expect(res.status).toBe(202);
  await waitForJob("broadcast", res.json.jobId, 60_000);
  const [row] = await api.deps.sql<{ finished_at: Date }[]>`select finished_at from broadcasts where id = ${res.json.id}`;
  expect(row!.finished_at).not.toBeNull();
  // BullMQ has the job again, not finished (as after a lost lock): Postgres' finish stands
  const config = loadConfig();
  const redis = createRedis(config.redisUrl, "test-admin");
  const queue = new Queue(QUEUES.broadcast, { connection: redis, prefix: redisKeys(config.redisPrefix).bullPrefix() });
  try {
    await (await queue.getJob(res.json.jobId))!.remove();
    await queue.add("broadcast", { broadcastId: res.json.id, joinedSince: null, occurredAt: Date.now() }, { jobId: res.json.jobId, delay: 3_600_000 });
    const status = await admin.client.get(`/api/admin/broadcasts/${res.json.id}`, { headers: CERT });
    expect([status.json.state, status.json.finishedAt]).toEqual(["completed", row!.finished_at.toISOString()]);
  } finally {
    await (await queue.getJob(res.json.jobId))?.remove();
    await queue.close();
    redis.disconnect();
  }
});
