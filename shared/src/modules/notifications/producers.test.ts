/** Message notifications against real Redis and BullMQ: within the sender's hourly reach. */
import { afterAll, expect, test } from "bun:test";
import { Queue } from "bullmq";
import { loadConfig } from "../../config/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createNotifier } from "./notifier.ts";
import { createPendingMessages } from "./pending-messages.ts";
import { notifyOfflineRecipients } from "./producers.ts";
import { jobIdFor, QUEUES } from "./queues.ts";
import { createNotificationReach } from "./reach.ts";

const config = loadConfig();
const redis = createRedis(config.redisUrl, "test-producers");
const keys = redisKeys(`${config.redisPrefix}producers-test:`);
const notify = new Queue(QUEUES.notify, { connection: redis, prefix: keys.bullPrefix() });
afterAll(async () => {
  await notify.close();
  redis.disconnect();
});

test("a sender's messages notify at most its reach of distinct offline members an hour", async () => {
  const sender = String(2e9 + Math.floor(Math.random() * 1e6));
  const notifyMessage = notifyOfflineRecipients({ notifier: createNotifier({ redis, prefix: keys.bullPrefix() }), reach: createNotificationReach(redis, keys, 2), pending: createPendingMessages(redis, keys) });
  const recipients = ["101", "102", "103"].map((r) => `${sender}${r}`);
  await notifyMessage(recipients, { messageId: "1", conversationId: "9", senderId: sender });
  await notifyMessage([recipients[0]!], { messageId: "2", conversationId: "9", senderId: sender });
  const queued = async (recipient: string, messageId: string) => (await notify.getJob(jobIdFor("notify", recipient, `message:${messageId}`))) !== undefined;
  const first = await Promise.all(recipients.map((r) => queued(r, "1")));
  expect(first.filter(Boolean)).toHaveLength(2);
  // a second message while the first one's job waits is counted for that job, not queued again
  expect(await queued(recipients[0]!, "2")).toBe(false);
  const pendingCount = async (r: string) => Number(await redis.hget(keys.pendingMessageNotification(r, "9"), "n"));
  expect(await pendingCount(recipients[0]!)).toBe(first[0] ? 2 : 0);
});

test("messages to an offline member make one waiting job per conversation; once it is taken, the next message makes another", async () => {
  const sender = String(3e9 + Math.floor(Math.random() * 1e6));
  const pending = createPendingMessages(redis, keys);
  const notifyMessage = notifyOfflineRecipients({ notifier: createNotifier({ redis, prefix: keys.bullPrefix() }), reach: createNotificationReach(redis, keys), pending });
  const recipient = `${sender}201`;
  for (let i = 1; i <= 40; i++) await notifyMessage([recipient], { messageId: `${sender}${i}`, conversationId: "77", senderId: i % 2 ? sender : `${sender}9` });
  const queued = async (messageId: string) => (await notify.getJob(jobIdFor("notify", recipient, `message:${messageId}`))) !== undefined;
  expect(await queued(`${sender}1`)).toBe(true);
  expect(await queued(`${sender}2`)).toBe(false);
  expect(await pending.take(recipient, "77")).toEqual({ messages: 40, latestSender: `${sender}9` });
  await notifyMessage([recipient], { messageId: `${sender}41`, conversationId: "77", senderId: sender });
  expect(await queued(`${sender}41`)).toBe(true);
});
