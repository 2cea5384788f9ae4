/** Message notifications against real Redis and BullMQ: within the sender's hourly reach. */
import { afterAll, expect, test } from "bun:test";
import { Queue } from "bullmq";
import { loadConfig } from "../../config/index.ts";
import { createRedis, redisKeys } from "../../redis/index.ts";
import { createNotifier } from "./notifier.ts";
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
  const notifyMessage = notifyOfflineRecipients(createNotifier({ redis, prefix: keys.bullPrefix() }), createNotificationReach(redis, keys, 2));
  const recipients = ["101", "102", "103"].map((r) => `${sender}${r}`);
  await notifyMessage(recipients, { messageId: "1", conversationId: "9", senderId: sender });
  await notifyMessage([recipients[0]!], { messageId: "2", conversationId: "9", senderId: sender });
  const queued = async (recipient: string, messageId: string) => (await notify.getJob(jobIdFor("notify", recipient, `message:${messageId}`))) !== undefined;
  const first = await Promise.all(recipients.map((r) => queued(r, "1")));
  expect(first.filter(Boolean)).toHaveLength(2);
  // a member already reached this hour is notified again (a second message)
  expect(await queued(recipients[0]!, "2")).toBe(first[0]!);
});
