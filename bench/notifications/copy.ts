/** The ceiling: the same rows written by a raw COPY, nothing else. */
import type { Sql } from "@xplicit/shared/db";

export async function rawCopy(sql: Sql, userIds: readonly string[], actorId: string): Promise<number> {
  const started = performance.now();
  const ts = new Date().toISOString();
  const writable = await (sql as unknown as { (s: TemplateStringsArray): { writable(): Promise<NodeJS.WritableStream> } })`
    copy notifications (user_id, type, actor_id, subject_id, dedupe_key, created_at) from stdin`.writable();
  const CHUNK = 20_000;
  for (let i = 0; i < userIds.length; i += CHUNK) {
    const text = userIds.slice(i, i + CHUNK).map((u) => `${u}\tpost\t${actorId}\t1\tpost:copy\t${ts}\n`).join("");
    if (!writable.write(text)) await new Promise((r) => writable.once("drain", r));
  }
  await new Promise<void>((resolve, reject) => {
    writable.once("finish", resolve);
    writable.once("error", reject);
    writable.end();
  });
  return (performance.now() - started) / 1000;
}
