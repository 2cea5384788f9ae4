import { expect, test } from "bun:test";
import { hasStackedMarks, isStorableText } from "./text.ts";

test("NUL and lone surrogates are refused; everything else, emoji included, is storable", () => {
  for (const ok of ["", "plain", "tab\tand\nnewline", "emoji 😀 ok", "日本語", "\u{10ffff}"]) expect(isStorableText(ok)).toBe(true);
  for (const bad of ["a\u0000b", "\u0000", "x\ud800", "\ud800x", "\udc00", "a\udc00\ud800b", "😀".slice(0, 1)]) expect(isStorableText(bad)).toBe(false);
});

test("a character carrying more marks than a script needs is caught; accents, Indic clusters and emoji are not", () => {
  for (const ok of ["Nguyễn", "क्षत्रिय", "कार्त्स्न्येन", "ഗ്ദ്ധ്ര്യ", "Ǻ", "1\ufe0f\u20e3", "👩🏽\u200d❤\ufe0f\u200d💋\u200d👨🏿", "plain"]) expect({ ok, stacked: hasStackedMarks(ok) }).toEqual({ ok, stacked: false });
  const zalgo = "Z" + "\u0336\u0301\u0342\u034a\u0350".repeat(40);
  expect(hasStackedMarks(zalgo)).toBe(true);
  expect(hasStackedMarks("a\u0301\u0302\u0303\u0304\u0305")).toBe(true);
});
