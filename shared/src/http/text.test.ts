import { expect, test } from "bun:test";
import { isStorableText } from "./text.ts";

test("NUL and lone surrogates are refused; everything else, emoji included, is storable", () => {
  for (const ok of ["", "plain", "tab\tand\nnewline", "emoji 😀 ok", "日本語", "\u{10ffff}"]) expect(isStorableText(ok)).toBe(true);
  for (const bad of ["a\u0000b", "\u0000", "x\ud800", "\ud800x", "\udc00", "a\udc00\ud800b", "😀".slice(0, 1)]) expect(isStorableText(bad)).toBe(false);
});
