/**
 * Names that would read as the site speaking ("Xplicit Support ✔", "аdmin" with a Cyrillic а,
 * "A d m i n"): a display name is what members actually read, and a new member's display name
 * is their handle.
 */

/**
 * Letters that pass for others, folded to one: Cyrillic and Greek look-alikes, small capitals,
 * the digits and signs people swap for letters, and i / l / 1 / | / ı, which most fonts draw alike.
 */
const LOOKALIKES: Record<string, string> = {
  а: "a", в: "b", е: "e", ё: "e", к: "k", м: "m", н: "h", о: "o", р: "p", с: "c", т: "t", у: "y", х: "x",
  і: "l", ї: "l", ј: "j", ѕ: "s", ԁ: "d", ԛ: "q", ԝ: "w", ɡ: "g", ӏ: "l", ɑ: "a", ı: "l", ɩ: "l",
  α: "a", β: "b", ε: "e", η: "n", ι: "l", κ: "k", ν: "v", ο: "o", ρ: "p", τ: "t", υ: "u", χ: "x",
  ᴀ: "a", ʙ: "b", ᴄ: "c", ᴅ: "d", ᴇ: "e", ɢ: "g", ʜ: "h", ɪ: "l", ᴊ: "j", ᴋ: "k", ʟ: "l", ᴍ: "m", ɴ: "n",
  ᴏ: "o", ᴘ: "p", ʀ: "r", ꜱ: "s", ᴛ: "t", ᴜ: "u", ᴠ: "v", ᴡ: "w", ʏ: "y", ᴢ: "z",
  i: "l", "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", $: "s", "|": "l", "!": "l",
};

function fold(text: string): string {
  return [...text].map((ch) => LOOKALIKES[ch] ?? ch).join("");
}

/** Words only the site's own accounts may be named by, folded like names are. */
const STAFF_WORDS = new Set(["admin", "administrator", "moderator", "support", "staff", "official", "operator"].map(fold));
const BRAND = fold("xplicit");
/** Ticks that read as a "verified" badge. */
const VERIFIED_MARKS = /[\u2713\u2714\u2611\u2705\u{1f5f8}\u{1f5f9}]/u;

/**
 * The name as a reader takes it: compatibility forms and case folded, accents off, look-alikes
 * as one letter, zero-width characters gone; split into words at spaces, signs and case changes
 * ("SupportTeam" is two words).
 */
function readings(name: string): { words: string[]; joined: string } {
  const plain = name.normalize("NFKC").replace(/\p{Cf}/gu, "").replace(/(\p{Ll})(\p{Lu})/gu, "$1 $2");
  const folded = fold(plain.toLowerCase().normalize("NFD").replace(/\p{M}/gu, ""));
  const words = folded.split(/[^a-z]+/).filter(Boolean);
  return { words, joined: words.join("") };
}

/** Why a name would pass for the site's staff, or null when it would not. */
export function staffLookalike(name: string): string | null {
  if (VERIFIED_MARKS.test(name)) return "a tick that reads as a verified badge";
  const { words, joined } = readings(name);
  if (joined.includes(BRAND)) return "the site's name";
  // a staff word alone, or spelled out letter by letter ("A d m i n", "a.d.m.i.n")
  const staff = words.find((w) => STAFF_WORDS.has(w)) ?? (STAFF_WORDS.has(joined) ? joined : undefined);
  return staff ? "a word that reads as the site's staff" : null;
}
