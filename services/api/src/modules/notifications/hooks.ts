/**
 * Producers wired into other api modules: they enqueue, the worker writes. Each one notifies only
 * within the actor's hourly reach (shared notifications module, reach.ts).
 */
import { createLogger } from "@xplicit/shared/log";
import type { NotificationReach, Notifier } from "@xplicit/shared/modules/notifications";
import type { Reaction } from "@xplicit/shared/modules/profiles";

const log = createLogger("notifications");

/** Social `onFollow`: "X followed you" (grouped per hour); a queue hiccup never fails the follow. */
export function notifyOnFollow(notifier: Notifier, reach: NotificationReach) {
  return async (followerId: string, followeeId: string): Promise<void> => {
    try {
      if ((await reach.allowed(followerId, [followeeId])).length === 0) return;
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

/** "X viewed your profile": one event per viewer per hour; the worker groups them per window. */
export function notifyOnProfileView(notifier: Notifier, reach: NotificationReach) {
  return async (viewerId: string, ownerId: string): Promise<void> => {
    try {
      if ((await reach.allowed(viewerId, [ownerId])).length === 0) return;
      const hour = Math.floor(Date.now() / 3_600_000);
      await notifier.notifyMember({
        recipientId: ownerId,
        type: "profile_view",
        actorId: viewerId,
        subjectId: ownerId,
        dedupeKey: `profile_view:${viewerId}:${hour}`,
      });
    } catch (err) {
      log.warn("profile view notification not enqueued", { ownerId, error: (err as Error).message });
    }
  };
}

/**
 * Profiles `onReact`: "X reacted to your profile". One event per (profile, actor): the job id and
 * the grouped row's event keys derive from it, so repeating or changing a reaction never notifies
 * twice, and a grouped row's "X and N others" counts members, not their changes of mind (one member
 * switching reactions read as "X and 3 others"). The worker groups a profile's reactions per window
 * into one `reaction` row.
 */
export function notifyOnReaction(notifier: Notifier, reach: NotificationReach) {
  return async (actorId: string, ownerId: string, _reaction: Reaction): Promise<void> => {
    try {
      if ((await reach.allowed(actorId, [ownerId])).length === 0) return;
      await notifier.notifyMember({
        recipientId: ownerId,
        type: "reaction",
        actorId,
        subjectId: ownerId,
        dedupeKey: `reaction:${ownerId}:${actorId}`,
      });
    } catch (err) {
      log.warn("reaction notification not enqueued", { ownerId, error: (err as Error).message });
    }
  };
}
