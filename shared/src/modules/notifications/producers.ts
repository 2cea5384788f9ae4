/**
 * Producer callbacks that services plug into other modules' hooks. Enqueue failures are logged,
 * never thrown: a missed notification must not fail the action that caused it.
 */
import { createLogger } from "../../log/index.ts";
import type { Notifier } from "./notifier.ts";
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
 * their messages delivered, but notifies at most REACH_PER_HOUR of them.
 */
export function notifyOfflineRecipients(notifier: Notifier, reach: NotificationReach) {
  return async (recipientIds: string[], message: MessageLike): Promise<void> => {
    const allowed = await reach.allowed(message.senderId, recipientIds).catch(() => recipientIds);
    await Promise.all(
      allowed.map((recipientId) =>
        notifier
          .notifyMember({
            recipientId,
            type: "message",
            actorId: message.senderId,
            subjectId: message.conversationId,
            dedupeKey: `message:${message.messageId}`,
          })
          .catch((err: Error) => log.warn("message notification not enqueued", { recipientId, error: err.message })),
      ),
    );
  };
}
