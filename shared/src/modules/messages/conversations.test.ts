/** Leaving a group against real Postgres and a Redis that stops answering at the worst moment. */
import { afterAll, expect, test } from "bun:test";
import { loadConfig } from "../../config/index.ts";
import { createDb } from "../../db/index.ts";
import { createRedisConnections, redisKeys } from "../../redis/index.ts";
import { redisRelay } from "../../../../tests/harness/redis-relay.ts";
import { seedMembers } from "../../../../tests/notifications/seed.ts";
import { createEventStream } from "../events/index.ts";
import { createConversation, leaveConversation } from "./conversations.ts";
import type { MessagingDeps } from "./types.ts";

const config = loadConfig();
const sql = createDb(config.databaseUrl, { max: 2 });
const relay = await redisRelay(config.redisUrl);
const conns = createRedisConnections(relay.url, "test-leave", { commandTimeoutMs: 300 });
const keys = redisKeys(`${config.redisPrefix}leave-test:`);
const events = createEventStream({ redis: conns.command, keys, maxEvents: 100, maxAgeSeconds: 3600 });
const deps: MessagingDeps = { sql, redis: conns.command, keys, events, maxBodyChars: 4000 };
// the same streams read past the relay, and a client of the relay that waits for its replies
const direct = createRedisConnections(config.redisUrl, "test-leave-direct");
const directEvents = createEventStream({ redis: direct.command, keys, maxEvents: 100, maxAgeSeconds: 3600 });
const patient = createRedisConnections(relay.url, "test-leave-patient", { commandTimeoutMs: 10_000 });
const patientEvents = createEventStream({ redis: patient.command, keys, maxEvents: 100, maxAgeSeconds: 3600 });
afterAll(async () => {
  await Promise.all([direct.close(), patient.close()]);
  await conns.close();
  relay.close();
  await sql.end();
});

test("a leave whose events Redis cannot take leaves the member in (a retry does it all), never out with nobody told", async () => {
  const [a, b, c] = (await seedMembers(sql, 3)) as [string, string, string];
  const group = await createConversation(deps, a, [b, c], "crew");
  const isIn = async () => (await sql`select 1 from conversation_members where conversation_id = ${group.id} and user_id = ${b}`).length === 1;

  relay.hold();
  const failed = await leaveConversation(deps, group.id, b).then(() => null, (err: Error) => err);
  relay.release();
  expect(failed).toBeInstanceOf(Error);
  expect(await isIn()).toBe(true);

  expect(await leaveConversation(deps, group.id, b)).toBe(true);
  expect(await isIn()).toBe(false);
  // everyone is told, at least once (the first attempt's events, held, may still land: clients take
  // a repeated "left" as the same news)
  for (const member of [a, b, c]) {
    const replay = await events.replayAfter(member, 0, null);
    const left = replay.ok ? replay.frames.filter((f) => f.includes('"change":"left"')) : [];
    expect({ member, told: left.length >= 1 }).toEqual({ member, told: true });
  }
});

test("once the 'left' event is out, the member is out: a client reading the group on hearing it does not find them", async () => {
  const [a, b, c] = (await seedMembers(sql, 3)) as [string, string, string];
  const group = await createConversation(deps, a, [b, c], "trio");
  const slowDeps: MessagingDeps = { ...deps, redis: patient.command, events: patientEvents };

  // Redis runs the append and publishes the event; its reply to the leave is held back
  relay.holdReplies();
  const leaving = leaveConversation(slowDeps, group.id, b);
  let heard = false;
  for (let waited = 0; !heard && waited < 5_000; waited += 10) {
    const replay = await directEvents.replayAfter(a, 0, null);
    heard = replay.ok && replay.frames.some((f) => f.includes('"change":"left"'));
    if (!heard) await Bun.sleep(10);
  }
  const stillIn = (await sql`select 1 from conversation_members where conversation_id = ${group.id} and user_id = ${b}`).length === 1;
  relay.releaseReplies();
  expect(await leaving).toBe(true);
  expect({ heard, stillIn }).toEqual({ heard: true, stillIn: false });
});
