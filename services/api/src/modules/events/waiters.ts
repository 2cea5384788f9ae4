/**
 * Long-poll waiters: requests parked until the member's channel carries something. One Redis
 * subscription per member with waiters on this process, dropped when the last waiter leaves.
 */
import { tooManyRequests } from "@xplicit/shared/errors";
import type { ApiDeps } from "../../deps.ts";

/** Long-polls one member may have open on this process at once (as many as chat sockets). */
export const MAX_WAITERS_PER_MEMBER = 16;

interface MemberWaiters {
  wake: Set<() => void>;
  /** requests inside `wait` (subscribing, checking or parked): counted at once, so a burst cannot overshoot */
  open: number;
  subscribed: Promise<unknown>;
}

export function createWaiters(deps: ApiDeps) {
  const waiting = new Map<string, MemberWaiters>();
  const prefix = deps.keys.memberChannel("");
  let listening = false;

  function listen(): void {
    if (listening) return;
    listening = true;
    deps.subscriber().on("message", (channel: string) => {
      if (!channel.startsWith(prefix)) return;
      const member = waiting.get(channel.slice(prefix.length));
      if (!member) return;
      for (const wake of [...member.wake]) wake();
    });
  }

  /**
   * Resolves when an event may be there for `userId`, or after `ms`. `alreadyThere` is checked
   * once the subscription is in place, closing the window between the caller's read and it.
   * A member with MAX_WAITERS_PER_MEMBER long-polls open here already gets 429.
   */
  async function wait(userId: string, ms: number, signal: AbortSignal, alreadyThere: () => Promise<boolean>): Promise<void> {
    let member = waiting.get(userId);
    if (member && member.open >= MAX_WAITERS_PER_MEMBER) throw tooManyRequests(ms / 1000, "too many long-polls open for this member");
    listen();
    if (!member) {
      member = { wake: new Set(), open: 0, subscribed: deps.subscriber().subscribe(deps.keys.memberChannel(userId)) };
      waiting.set(userId, member);
    }
    const group = member;
    group.open++;
    try {
      // (a subscription unanswered for the whole wait — a half-open connection — must not hold the
      // poll past it: the caller reads the stream again and answers what is there)
      let subscribedInTime = false;
      await Promise.race([group.subscribed.then(() => (subscribedInTime = true)), Bun.sleep(ms)]);
      if (!subscribedInTime || signal.aborted || (await alreadyThere())) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          group.wake.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener("abort", done);
        group.wake.add(done);
      });
    } finally {
      group.open--;
      if (group.open === 0 && waiting.get(userId) === group) {
        waiting.delete(userId);
        // (not awaited: on a connection that answers nothing it would hold the answer too)
        void deps.subscriber().unsubscribe(deps.keys.memberChannel(userId)).catch(() => {});
      }
    }
  }

  return { wait };
}
