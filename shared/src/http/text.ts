/**
 * Client text that Postgres can store as sent: no NUL (a `text` column refuses it, failing the
 * whole statement) and no lone UTF-16 surrogate (it would be stored as U+FFFD, silently changed).
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}
