/**
 * Graceful stop on SIGTERM/SIGINT: run the service's steps in order (stop accepting, drain,
 * close pools), then exit 0; if that takes longer than the deadline, exit 1 anyway.
 */
import type { Logger } from "../log/index.ts";

export type ShutdownStep = () => Promise<unknown> | unknown;

export function onShutdown(log: Logger, timeoutMs: number, steps: ShutdownStep[]): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const run = () => {
    stopping ??= (async () => {
      log.info("shutting down");
      const deadline = setTimeout(() => {
        log.error("shutdown deadline passed, exiting", { timeoutMs });
        process.exit(1);
      }, timeoutMs);
      for (const step of steps) {
        try {
          await step();
        } catch (err) {
          log.warn("shutdown step failed", { error: (err as Error).message });
        }
      }
      clearTimeout(deadline);
      log.info("stopped");
      process.exit(0);
    })();
    return stopping;
  };
  process.on("SIGTERM", run);
  process.on("SIGINT", run);
  return run;
}
