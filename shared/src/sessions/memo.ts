/**
 * Verified sessions remembered in this process for a moment (SESSION_MEMO_MS): a member's burst of
 * API calls checks Redis once, not once per call. A revocation reaches every process on the
 * revocations channel and drops the session here at once (in the revoking process before it
 * answers); while that channel is not known to be subscribed the memo answers nothing, so a
 * revocation missed with a dropped connection cannot outlive it. What is left: a request another
 * process serves in the instant between a revocation and its announcement arriving.
 */
import type { Redis } from "../redis/index.ts";
import type { Session, SessionRevokedEvent } from "./index.ts";

interface Remembered {
  session: Session;
  until: number;
}

export interface SessionMemoOptions {
  ttlMs: number;
  /** a pub/sub connection (shared with the process' other subscriptions) */
  subscriber: Redis;
  channel: string;
  maxEntries?: number;
}

export interface SessionMemo {
  get(tokenHashHex: string, now: number): Session | null;
  /** taken before a session is read from Redis, and handed to `remember` */
  generation(): number;
  /** skipped when a revocation arrived since `generation` (the read may predate it) */
  remember(tokenHashHex: string, session: Session, absoluteEnd: number, now: number, generation: number): void;
  forget(sessionIds: readonly string[]): void;
  /** resolves once the revocations channel is subscribed (the memo answers from then on) */
  ready: Promise<void>;
}

export function createSessionMemo(opts: SessionMemoOptions): SessionMemo {
  const { ttlMs, subscriber, channel } = opts;
  const maxEntries = opts.maxEntries ?? 50_000;
  const byToken = new Map<string, Remembered>();
  const tokenOf = new Map<string, string>();
  let subscribed = false;
  /** counts revocations and clears */
  let revocations = 0;

  function clear(): void {
    revocations++;
    byToken.clear();
    tokenOf.clear();
  }

  function forget(sessionIds: readonly string[]): void {
    revocations++;
    for (const sid of sessionIds) {
      const hex = tokenOf.get(sid);
      if (hex === undefined) continue;
      tokenOf.delete(sid);
      byToken.delete(hex);
    }
  }

  async function subscribe(): Promise<void> {
    await subscriber.subscribe(channel);
    // a verify that began while the channel was down may have missed a revocation: not remembered
    revocations++;
    subscribed = subscriber.status === "ready";
  }

  subscriber.on("message", (ch: string, message: string) => {
    if (ch !== channel) return;
    try {
      forget((JSON.parse(message) as SessionRevokedEvent).sessionIds);
    } catch {
      // not ours to judge: an unreadable announcement only leaves entries to their TTL, so drop all
      clear();
    }
  });
  // A dropped connection may have lost announcements: forget everything, and answer nothing until
  // the channel is subscribed again.
  subscriber.on("close", () => {
    subscribed = false;
    clear();
  });
  subscriber.on("ready", () => void subscribe().catch(() => {}));
  const ready = subscribe();
  // (a failed first attempt is retried on the next "ready"; nobody has to await this one)
  ready.catch(() => {});

  return {
    get(hex, now) {
      if (!subscribed) return null;
      const hit = byToken.get(hex);
      if (!hit) return null;
      if (hit.until > now) return hit.session;
      byToken.delete(hex);
      tokenOf.delete(hit.session.sessionId);
      return null;
    },
    generation: () => revocations,
    remember(hex, session, absoluteEnd, now, generation) {
      if (!subscribed || generation !== revocations) return;
      if (byToken.size >= maxEntries) {
        // the oldest first (a Map keeps insertion order): a full memo never drops everything at once
        const [oldest] = byToken;
        if (oldest) {
          byToken.delete(oldest[0]);
          tokenOf.delete(oldest[1].session.sessionId);
        }
      }
      byToken.set(hex, { session, until: Math.min(now + ttlMs, absoluteEnd) });
      tokenOf.set(session.sessionId, hex);
    },
    forget,
    ready,
  };
}
