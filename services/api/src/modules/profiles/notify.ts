/** "X reacted to your profile": the producer the reaction routes call when a reaction is new or changed. */
import { createLogger } from "@xplicit/shared/log";
import type { Notifier } from "@xplicit/shared/modules/notifications";
import type { Reaction } from "@xplicit/shared/modules/profiles";

const log = createLogger("profiles");

/**
 * One event per (profile, actor, reaction): the job id and the grouped row's event keys derive
 * from it, so repeating a reaction never notifies twice; the worker groups a profile's reactions
 * per window into one `reaction` row. A queue hiccup is logged, never fails the reaction.
 */
export function notifyOnReaction(notifier: () => Notifier) {
  return async (actorId: string, ownerId: string, reaction: Reaction): Promise<void> => {
    try {
      await notifier().notifyMember({
        recipientId: ownerId,
        type: "reaction",
        actorId,
        subjectId: ownerId,
        dedupeKey: `reaction:${ownerId}:${actorId}:${reaction}`,
      });
    } catch (err) {
      log.warn("reaction notification not enqueued", { ownerId, error: (err as Error).message });
    }
  };
}
