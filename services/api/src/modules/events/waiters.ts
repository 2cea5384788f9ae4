/**
 * Long-poll waiters: requests parked until the member's channel carries something. One Redis
 * subscription per member with waiters on this process, dropped when the last waiter leaves.
 */
import type { ApiDeps } from "../../deps.ts";

export function createWaiters(deps: ApiDeps) {
  const waiting = new Map<string, Set<() => void>>();
  const prefix = deps.keys.memberChannel("");
  let listening = false;

  function listen(): void {
    if (listening) return;
    listening = true;
    deps.subscriber().on("message", (channel: string) => {
      if (!channel.startsWith(prefix)) return;
      const set = waiting.get(channel.slice(prefix.length));
      if (!set) return;
      for (const wake of [...set]) wake();
    });
  }

  /**
   * Resolves when an event may be there for `userId`, or after `ms`. `alreadyThere` is checked
   * once the subscription is in place, closing the window between the caller's read and it.
   */
  async function wait(userId: string, ms: number, signal: AbortSignal, alreadyThere: () => Promise<boolean>): Promise<void> {
    listen();
    let set = waiting.get(userId);
    if (!set) {
      set = new Set();
      waiting.set(userId, set);
      await deps.subscriber().subscribe(deps.keys.memberChannel(userId));
    }
    const group = set;
    const skip = await alreadyThere();
    if (!skip) await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        group.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
      group.add(done);
    });
    if (group.size === 0 && waiting.get(userId) === group) {
      waiting.delete(userId);
      await deps.subscriber().unsubscribe(deps.keys.memberChannel(userId)).catch(() => {});
    }
  }

  return { wait };
}
