/**
 * Typing frames for one conversation reach its members at most every TYPING_EVERY_MS: from each
 * socket, and from each member over all their sockets on a replica (otherwise a member opening 16
 * sockets typed 16 times as often).
 */
const TYPING_EVERY_MS = 1500;
/** Conversations whose last typing frame is remembered: a client naming ever new ids must not grow it. */
const MAX_CONVERSATIONS = 64;

export class TypingThrottle {
  private readonly last = new Map<string, number>();

  get size(): number {
    return this.last.size;
  }

  /** Whether a typing frame for the conversation may go out now; if so it is counted (monotonic time: a clock stepped back must not mute typing). */
  allow(conversationId: string, now = performance.now()): boolean {
    if (now - (this.last.get(conversationId) ?? -Infinity) < TYPING_EVERY_MS) return false;
    // Full: only entries past their interval make room (flushing the ones still throttling would
    // let junk ids buy an unthrottled typing frame to a group); under pressure typing is dropped.
    if (this.last.size >= MAX_CONVERSATIONS) {
      for (const [id, at] of this.last) if (now - at >= TYPING_EVERY_MS) this.last.delete(id);
      if (this.last.size >= MAX_CONVERSATIONS) return false;
    }
    this.last.set(conversationId, now);
    return true;
  }

  /** A frame that did not go out (a conversation the member is not in) is not counted. */
  forget(conversationId: string): void {
    this.last.delete(conversationId);
  }
}
