/** The notification vocabulary shared by the api, the worker and the modules that notify. */

export const NOTIFICATION_TYPES = ["follow", "message", "profile_view", "reaction", "broadcast", "post"] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** Types whose repeated events on one subject within the window collapse into one row. */
export const GROUPED_TYPES: ReadonlySet<NotificationType> = new Set(["follow", "message", "profile_view", "reaction"]);

/** Grouped rows remember this many actors (for display) and recent event keys (for retries). */
export const GROUP_ACTORS_KEPT = 3;
export const GROUP_EVENT_KEYS_KEPT = 32;

export function isNotificationType(value: unknown): value is NotificationType {
  return typeof value === "string" && (NOTIFICATION_TYPES as readonly string[]).includes(value);
}

/** One recipient, one event (a follow, a message while offline, a profile view, a reaction). */
export interface NotifyInput {
  recipientId: string;
  type: NotificationType;
  actorId: string | null;
  /** what the event is about: the conversation, the reacted-to item, …; defaults to the recipient */
  subjectId?: string | null;
  /** identifies the source event; the same key never produces a second notification */
  dedupeKey: string;
  /** event time in ms; defaults to the time of the call */
  occurredAt?: number;
  /** the job's count of messages (pending-messages.ts): taken and written with it */
  pendingToken?: string;
}

/** One actor's event to every follower (e.g. a new post). */
export interface FanoutInput {
  actorId: string;
  type: NotificationType;
  subjectId: string | null;
  dedupeKey: string;
  occurredAt?: number;
}

export interface BroadcastInput {
  broadcastId: string;
  /** "all" members, or only those who joined at or after `joinedSince` */
  joinedSince: string | null;
  occurredAt?: number;
}

/** Stored row, as the module's queries return it. */
export interface NotificationRow {
  id: string;
  /** position in the list: taken anew each time a group counts an event (latest activity first) */
  seq: string;
  userId: string;
  type: NotificationType;
  actorId: string | null;
  actorIds: string[] | null;
  subjectId: string | null;
  count: number;
  createdAt: Date;
  updatedAt: Date | null;
  readAt: Date | null;
}

export interface ActorView {
  id: string;
  handle: string;
  displayName: string;
}

/** What clients receive, over HTTP and as the `notification` event's `notification`. */
export interface NotificationView {
  id: string;
  /** its position in the list (latest activity first); send the top one's as `upToSeq` to mark read what was shown */
  seq: string;
  type: NotificationType;
  actor: ActorView | null;
  actors: ActorView[];
  subjectId: string | null;
  count: number;
  createdAt: string;
  updatedAt: string;
  read: boolean;
  broadcast?: { title: string; body: string };
}
