/**
 * Timers that never fire early. Before k6 2.3 (grafana/k6#6351), clearing a timer that was due but
 * had not run yet could run another pending timer in its place — early. The chat client clears its
 * timers all the time, so a wait that must not end early (a session's end, a grace period before
 * counting a loss, the end of a fan-out's hold) re-arms itself for what is left when it runs before
 * its time.
 */
import { clearTimeout, setTimeout } from "k6/timers";

/** Runs `fn` once, no sooner than `ms` from now; the returned function cancels it. */
export function afterAtLeast(ms: number, fn: () => void): () => void {
  const due = Date.now() + Math.max(0, ms);
  let armed: ReturnType<typeof setTimeout> | null = null;
  const check = (): void => {
    const left = due - Date.now();
    if (left > 0) armed = setTimeout(check, left);
    else {
      armed = null;
      fn();
    }
  };
  armed = setTimeout(check, Math.max(0, ms));
  return () => {
    if (armed !== null) clearTimeout(armed);
    armed = null;
  };
}
