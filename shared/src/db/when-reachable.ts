/**
 * A start-up step that needs Postgres (migrations, partitions), waited out while Postgres is away
 * instead of exiting: a service that exits at start over and over made its supervisor (`npm start`,
 * after 5 exits in 30 s; compose's restart loop) stop or thrash the whole stack during a Postgres
 * restart. Any other failure (a migration's own error) still ends the start.
 */
import { isDependencyUnavailable } from "../errors/index.ts";
import type { Logger } from "../log/index.ts";

export async function whenPostgresIsReachable<T>(what: string, step: () => Promise<T>, log: Logger): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof Error) || !isDependencyUnavailable(err)) throw err;
      if (attempt === 1) log.warn(`Postgres unavailable at start: waiting for it to ${what}`, { error: err.message });
      await Bun.sleep(Math.min(1000 * attempt, 5000));
    }
  }
}
