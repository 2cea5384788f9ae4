/**
 * Client text that Postgres can store as sent: no NUL (a `text` column refuses it, failing the
 * whole statement) and no lone UTF-16 surrogate (it would be stored as U+FFFD, silently changed).
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}

/**
 * C0 controls other than tab, line feed and carriage return, DEL, and the C1 controls (U+0080–U+009F,
 * NEL included): nothing a person types, and in JSON each C0 one is six bytes (\u0001), which made a
 * 4,000-character message a 24 KB frame in every recipient's replay log.
 */
const CONTROLS = /[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

export function hasControlCharacters(s: string): boolean {
  return CONTROLS.test(s);
}

/**
 * An id (a bigint) as Postgres writes it: decimal digits, no leading zeros. "0000001" named row 1
 * to the database but travelled on as typed — to events no page matched, and as a key of its own to
 * the throttles and caches keyed by id.
 */
const CANONICAL_ID = /^(?:0|[1-9]\d{0,17})$/;

export function isCanonicalId(s: string): boolean {
  return CANONICAL_ID.test(s);
}

/** Bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069): they make a name read as another. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

export function hasBidiControls(s: string): boolean {
  return BIDI_CONTROLS.test(s);
}

/**
 * The overrides alone (U+202D, U+202E): they show the letters after them reversed ("…/fdp.exe" reads
 * "…/exe.pdf"). Message bodies keep the embeddings and isolates, which mixed-direction text uses.
 */
const BIDI_OVERRIDES = /[\u202d\u202e]/;

export function hasBidiOverrides(s: string): boolean {
  return BIDI_OVERRIDES.test(s);
}

/**
 * Characters that show nothing: whitespace, format characters (zero-width space and joiners, the
 * BOM, …), controls, the "blank" letters (Hangul fillers, the Braille blank), whatever Unicode says
 * to ignore (variation selectors, the combining grapheme joiner, …), and marks with nothing to sit on.
 */
const INVISIBLE = /^[\s\p{Cf}\p{Cc}\p{Z}\p{M}\p{Default_Ignorable_Code_Point}\u115f\u1160\u2800\u3164\uffa0]*$/u;

/** True when the text shows at least one character (a name of zero-width spaces shows as blank). */
export function hasVisibleText(s: string): boolean {
  return !INVISIBLE.test(s);
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * What a member counts as characters: user-perceived ones (an emoji with its modifiers, a letter
 * with its combining accents is one), not UTF-16 units, where a flag is 2 and a family emoji 11.
 */
export function characterCount(s: string): number {
  let n = 0;
  for (const _ of graphemes.segment(s)) n++;
  return n;
}

/**
 * Marks in a row a text may carry: a Vietnamese letter has 2, an Indic conjunct alternates marks
 * and letters (a whole conjunct is one grapheme, so marks are counted in runs, not per grapheme);
 * "zalgo" text piles up hundreds on one letter.
 */
export const MAX_MARKS_IN_A_ROW = 4;
// (counted through the invisible characters between them: a zero-width joiner every few marks kept
// each run short while the tower of accents grew to thousands)
const MARK_RUN = new RegExp(`(?:\\p{M}[\\p{Cf}\\u034f]*){${MAX_MARKS_IN_A_ROW + 1},}`, "u");

/** True when marks pile up past what any script writes: they spill over the text around them. */
export function hasStackedMarks(s: string): boolean {
  return MARK_RUN.test(s);
}
