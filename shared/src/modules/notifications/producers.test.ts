/** Message notifications against real Redis and BullMQ: within the sender's hourly reach. */
import { afterAll, expect, test } from "bun:test";
import { Queue } from "bullmq";
import { loadConfig } from "../../config/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { redisRelay } from "../../../../tests/harness/redis-relay.ts";
import { createNotifier } from "./notifier.ts";
import { createPendingMessages } from "./pending-messages.ts";
import { notifyOfflineRecipients } from "./producers.ts";
import { QUEUES } from "./queues.ts";
import { createNotificationReach } from "./reach.ts";

const config = loadConfig();
const redis = createRedis(config.redisUrl, "test-producers");
const keys = redisKeys(`${config.redisPrefix}producers-test:`);
const notify = new Queue(QUEUES.notify, { connection: redis, prefix: keys.bullPrefix() });
afterAll(async () => {
  await notify.close();
  redis.disconnect();
});

/** The notify jobs waiting for `recipient` (their data). */
async function jobsFor(recipient: string) {
  return (await notify.getJobs(["waiting", "prioritized", "delayed"])).filter((j) => j?.data.recipientId === recipient).map((j) => j!.data);
}

test("a sender's messages notify at most its reach of distinct offline members an hour", async () => {
  const sender = String(2e9 + Math.floor(Math.random() * 1e6));
  const notifyMessage = notifyOfflineRecipients({ notifier: createNotifier({ redis, prefix: keys.bullPrefix() }), reach: createNotificationReach(redis, keys, 2), pending: createPendingMessages(redis, keys) });
  const recipients = ["101", "102", "103"].map((r) => `${sender}${r}`);
  await notifyMessage(recipients, { messageId: "1", conversationId: "9", senderId: sender });
  const first = await Promise.all(recipients.map(async (r) => (await jobsFor(r)).length));
  expect(first.filter((n) => n === 1)).toHaveLength(2);
  expect(first.filter((n) => n === 0)).toHaveLength(1);
  // a second message while the first one's job waits is counted for that job, not queued again
  const reached = recipients[first.indexOf(1)]!;
  await notifyMessage([reached], { messageId: "2", conversationId: "9", senderId: sender });
  expect(await jobsFor(reached)).toHaveLength(1);
  expect(Number(await redis.hget(keys.pendingMessageNotification(reached, "9"), "n"))).toBe(2);
});

test("messages to an offline member make one waiting job per conversation; it takes its own count only, and the next message after it makes another", async () => {
  const sender = String(3e9 + Math.floor(Math.random() * 1e6));
  const pending = createPendingMessages(redis, keys);
  const notifyMessage = notifyOfflineRecipients({ notifier: createNotifier({ redis, prefix: keys.bullPrefix() }), reach: createNotificationReach(redis, keys), pending });
  const recipient = `${sender}201`;
  for (let i = 1; i <= 40; i++) await notifyMessage([recipient], { messageId: `${sender}${i}`, conversationId: "77", senderId: i % 2 ? sender : `${sender}9` });
  const [job] = await jobsFor(recipient);
  expect(await jobsFor(recipient)).toHaveLength(1);
  // a job whose count is not this one's (it expired, and another began) takes nothing of it
  expect(await pending.take(recipient, "77", "another job's token")).toEqual({ messages: 1, latestSender: null });
  expect(await pending.take(recipient, "77", job!.pendingToken!)).toEqual({ messages: 40, latestSender: `${sender}9` });
  // the job killed before it saved what it took: its rerun takes the same again
  expect(await pending.take(recipient, "77", job!.pendingToken!)).toEqual({ messages: 40, latestSender: `${sender}9` });
  // the same message announced again (its answer expired) still gets a job of its own
  await notifyMessage([recipient], { messageId: `${sender}1`, conversationId: "77", senderId: sender });
  expect(await jobsFor(recipient)).toHaveLength(2);
});

test("a count whose reply never came (Redis paused, a failover) leaves no count behind that would take in later messages without a job", async () => {
  const sender = String(4e9 + Math.floor(Math.random() * 1e6));
  const recipient = `${sender}301`;
  const relay = await redisRelay(config.redisUrl);
  // what the replica's command connection is: replies late past its command timeout
  const slow = createRedis(relay.url, "test-producers:slow", { commandTimeout: 300 });
  try {
    await slow.ping();
    const notifyMessage = notifyOfflineRecipients({ notifier: createNotifier({ redis, prefix: keys.bullPrefix() }), reach: createNotificationReach(redis, keys), pending: createPendingMessages(slow, keys) });
    relay.holdReplies();
    // the count runs in Redis, but its answer does not come back in time: no job is enqueued
    await notifyMessage([recipient], { messageId: `${sender}1`, conversationId: "55", senderId: sender });
    relay.releaseReplies();
    expect(await jobsFor(recipient)).toHaveLength(0);
    for (let i = 0; i < 20 && (await redis.exists(keys.pendingMessageNotification(recipient, "55"))) === 1; i++) await Bun.sleep(50);
    expect(await redis.exists(keys.pendingMessageNotification(recipient, "55"))).toBe(0);
    // so the next message makes a job of its own again
    const fine = notifyOfflineRecipients({ notifier: createNotifier({ redis, prefix: keys.bullPrefix() }), reach: createNotificationReach(redis, keys), pending: createPendingMessages(redis, keys) });
    await fine([recipient], { messageId: `${sender}2`, conversationId: "55", senderId: sender });
    expect(await jobsFor(recipient)).toHaveLength(1);
  } finally {
    slow.disconnect();
    relay.close();
  }
});
