/**
 * Producer callbacks that services plug into other modules' hooks. Enqueue failures are logged,
 * never thrown: a missed notification must not fail the action that caused it.
 */
import { createLogger } from "../../log/index.ts";
import type { Notifier } from "./notifier.ts";

const log = createLogger("notifications");

interface MessageLike {
  messageId: string;
  conversationId: string;
  senderId: string;
}

/** "X messaged you" for recipients with no open client (grouped per conversation by the worker). */
export function notifyOfflineRecipients(notifier: Notifier) {
  return async (recipientIds: string[], message: MessageLike): Promise<void> => {
    await Promise.all(
      recipientIds.map((recipientId) =>
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
