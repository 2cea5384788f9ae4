/** Producers wired into other api modules: they enqueue, the worker writes. */
import { createLogger } from "@xplicit/shared/log";
import type { Notifier } from "@xplicit/shared/modules/notifications";

const log = createLogger("notifications");

/** Social `onFollow`: "X followed you" (grouped per hour); a queue hiccup never fails the follow. */
export function notifyOnFollow(notifier: Notifier) {
  return async (followerId: string, followeeId: string): Promise<void> => {
    try {
      await notifier.notifyMember({
        recipientId: followeeId,
        type: "follow",
        actorId: followerId,
        subjectId: followeeId,
        dedupeKey: `follow:${followerId}`,
      });
    } catch (err) {
      log.warn("follow notification not enqueued", { followeeId, error: (err as Error).message });
    }
  };
}
