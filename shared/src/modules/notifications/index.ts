/**
 * Notifications, shared by the api (reads, settings, enqueueing) and the worker (writes).
 *
 * Producers call `createNotifier({redis, prefix}).notifyMember({recipientId, type, actorId,
 * subjectId?, dedupeKey, occurredAt?})`; the worker's `notify` job runs `writeNotification`.
 */
export * from "./types.ts";
export * from "./queues.ts";
export { createNotifier, broadcastJobId, type Notifier, type NotifierOptions, type NotifyMember } from "./notifier.ts";
export { createRecentNotifications, forgetRecentNotifications, RECENT_PAGE_MAX, type RecentNotifications, type RecentPage } from "./recent.ts";
export { createUnreadCounter, FENCE_BUCKETS, UNREAD_TTL_SECONDS, type UnreadCounter, type UnreadWrite } from "./unread.ts";
export { mutedTypes, setMutedTypes, isMuted } from "./settings.ts";
export { listForMember, markRead, countUnread, insertBatch, bigintArray, forgetOldCountedEvents, type ListQuery } from "./store.ts";
export { renderAll, renderNotification, loadRenderContext, broadcastTexts } from "./render.ts";
export { deliver, type DeliveryDeps } from "./deliver.ts";
export { writeNotification, bucketStart, groupKey, type WriteDeps, type NotifyResult } from "./write.ts";
export { runBatches, type RecipientSource, type RecipientPage, type BatchTemplate, type BatchStats, type RunOutcome } from "./batches.ts";
export { ensurePartitions, dropExpiredPartitions, listPartitions, partitionFor } from "./partitions.ts";
export { notifyOfflineRecipients } from "./producers.ts";
export { createPendingMessages, type PendingMessages } from "./pending-messages.ts";
export { createNotificationReach, REACH_PER_HOUR, type NotificationReach } from "./reach.ts";
