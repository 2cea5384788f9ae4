import { expect, test } from "bun:test";
import { hasStackedMarks, hasVisibleText, isStorableText } from "./text.ts";

test("NUL and lone surrogates are refused; everything else, emoji included, is storable", () => {
  for (const ok of ["", "plain", "tab\tand\nnewline", "emoji 😀 ok", "日本語", "\u{10ffff}"]) expect(isStorableText(ok)).toBe(true);
  for (const bad of ["a\u0000b", "\u0000", "x\ud800", "\ud800x", "\udc00", "a\udc00\ud800b", "😀".slice(0, 1)]) expect(isStorableText(bad)).toBe(false);
});

test("a character carrying more marks than a script needs is caught; accents, Indic clusters and emoji are not", () => {
  for (const ok of ["Nguyễn", "क्षत्रिय", "कार्त्स्न्येन", "ഗ്ദ്ധ്ര്യ", "Ǻ", "1\ufe0f\u20e3", "👩🏽\u200d❤\ufe0f\u200d💋\u200d👨🏿", "plain"]) expect({ ok, stacked: hasStackedMarks(ok) }).toEqual({ ok, stacked: false });
  const zalgo = "Z" + "\u0336\u0301\u0342\u034a\u0350".repeat(40);
  expect(hasStackedMarks(zalgo)).toBe(true);
  expect(hasStackedMarks("a\u0301\u0302\u0303\u0304\u0305")).toBe(true);
  // split by invisible joiners every few marks: still one tower
  expect(hasStackedMarks("e" + "\u0301\u0302\u0303\u0304\u200c".repeat(20))).toBe(true);
  expect(hasStackedMarks("e" + "\u0301\u0302\u200d".repeat(20))).toBe(true);
  // Indic conjuncts with joiners, emoji with variation selectors and joiners stay fine
  for (const ok of ["क्\u200dष", "ര്\u200dയ", "🏳\ufe0f\u200d🌈", "👁\ufe0f\u200d🗨\ufe0f"]) expect({ ok, stacked: hasStackedMarks(ok) }).toEqual({ ok, stacked: false });
});

test("text of nothing a reader can see is not visible text: ignorables, marks alone, fillers", () => {
  for (const blank of ["\u034f\u034f", "\u17b4\u17b5", "\u180b", "\ufe0f", "\u{e0100}", " \u034f\u034f\u034f\u034f", "\u2800\ufe0f", "\u0301"]) {
    expect({ blank, visible: hasVisibleText(blank) }).toEqual({ blank, visible: false });
  }
  for (const shown of ["a", "❤\ufe0f", "·", "🏳\ufe0f\u200d🌈", "ا"]) expect({ shown, visible: hasVisibleText(shown) }).toEqual({ shown, visible: true });
});
