/**
 * Producer callbacks that services plug into other modules' hooks. Enqueue failures are logged,
 * never thrown: a missed notification must not fail the action that caused it.
 */
import { createLogger } from "../../log/index.ts";
import type { Notifier } from "./notifier.ts";
import type { PendingMessages } from "./pending-messages.ts";
import type { NotificationReach } from "./reach.ts";

const log = createLogger("notifications");

interface MessageLike {
  messageId: string;
  conversationId: string;
  senderId: string;
}

/**
 * "X messaged you" for recipients with no open client (grouped per conversation by the worker),
 * within the sender's hourly reach: a member adding strangers to groups and writing to them gets
 * their messages delivered, but notifies at most REACH_PER_HOUR of them. While a recipient's job
 * for the conversation waits, later messages are only counted (pending-messages.ts).
 */
export function notifyOfflineRecipients(deps: { notifier: Notifier; reach: NotificationReach; pending: PendingMessages }) {
  const { notifier, reach, pending } = deps;
  return async (recipientIds: string[], message: MessageLike): Promise<void> => {
    const allowed = await reach.allowed(message.senderId, recipientIds).catch(() => recipientIds);
    const needJob = await pending.count(allowed, message.conversationId, message.senderId).catch((err: Error) => {
      log.warn("message notifications not counted", { recipients: allowed.length, error: err.message });
      return [];
    });
    await Promise.all(
      needJob.map(({ recipientId, token }) =>
        notifier
          .notifyMember({
            recipientId,
            type: "message",
            actorId: message.senderId,
            subjectId: message.conversationId,
            // one job per count (a message announced again after its answer expired must not find
            // the job of its first announcement and be dropped as its repeat)
            dedupeKey: `message:${message.messageId}:${token}`,
            pendingToken: token,
          })
          .catch(async (err: Error) => {
            log.warn("message notification not enqueued", { recipientId, error: err.message });
            await pending.abandon(recipientId, message.conversationId, token).catch(() => {});
          }),
      ),
    );
  };
}
