/**
 * Display names that would read as the site speaking ("Xplicit Support ✔", "аdmin" with a Cyrillic
 * а): handles have a reserved list, and a display name is what members actually read.
 */

/** Latin look-alikes from Cyrillic and Greek, and the digits and signs people swap for letters. */
const LOOKALIKES: Record<string, string> = {
  а: "a", в: "b", е: "e", ё: "e", к: "k", м: "m", н: "h", о: "o", р: "p", с: "c", т: "t", у: "y", х: "x",
  і: "i", ї: "i", ј: "j", ѕ: "s", ԁ: "d", ԛ: "q", ԝ: "w", ɡ: "g", ӏ: "l",
  α: "a", β: "b", ε: "e", η: "n", ι: "i", κ: "k", ν: "v", ο: "o", ρ: "p", τ: "t", υ: "u", χ: "x",
  "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", $: "s", "|": "l",
};

/** Words only the site's own accounts may be named by. */
const STAFF_WORDS = new Set(["admin", "administrator", "moderator", "support", "staff", "official", "operator"]);
const BRAND = "xplicit";
/** Ticks that read as a "verified" badge. */
const VERIFIED_MARKS = /[\u2713\u2714\u2611\u2705\u{1f5f8}\u{1f5f9}]/u;

/** The words of a name as a reader would take them: compatibility forms folded, look-alikes as Latin, accents off. */
function skeletonWords(name: string): string[] {
  const folded = name.normalize("NFKC").toLowerCase().normalize("NFD").replace(/\p{M}/gu, "");
  const latin = [...folded].map((ch) => LOOKALIKES[ch] ?? ch).join("");
  // zero-width and format characters join what they split ("ad\u200bmin" is "admin")
  return latin.replace(/\p{Cf}/gu, "").split(/[^a-z]+/).filter(Boolean);
}

/** Why a display name would pass for the site's staff, or null when it would not. */
export function staffLookalike(name: string): string | null {
  if (VERIFIED_MARKS.test(name)) return "a tick that reads as a verified badge";
  const words = skeletonWords(name);
  if (words.some((w) => w.includes(BRAND))) return "the site's name";
  const staff = words.find((w) => STAFF_WORDS.has(w));
  return staff ? `"${staff}", which reads as the site's staff` : null;
}
