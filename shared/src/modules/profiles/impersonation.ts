/**
 * Names that would read as the site speaking ("Xplicit Support ✔", "аdmin" with a Cyrillic а,
 * "A d m i n", "Admins"): a display name is what members actually read, and a new member's
 * display name is their handle.
 */

/**
 * Letters that pass for Latin ones, folded to them: Cyrillic, Greek, Armenian, Cherokee, Lisu and
 * Coptic look-alikes, small capitals, stroked letters, the digits and signs people swap for
 * letters — and i / l / 1 / | / ı / ɨ, which most fonts draw alike, all as "l".
 */
const LOOKALIKE_GROUPS: [string, string][] = [
  ["a", "аɑαᴀꓮⲀⲁ4@Ꭺ"], ["b", "вβʙƀꓐ"], ["c", "сᴄꓚⲤⲥϲᏟ"], ["d", "ԁᴅđꓓᎠ"], ["e", "еёεᴇꓰᎬ3"], ["f", "ꓝ"],
  ["g", "ɡɢꓖᏀ"], ["h", "нʜħꓧᎻ"], ["j", "јᴊꓙᎫ"], ["k", "кκᴋꓗᏦ"], ["l", "iіїιɪʟӏıɩɨłꓲꓡᏞ1|!¡"],
  ["m", "мᴍꓟᎷ"], ["n", "ηɴꓠ"], ["o", "оοօᴏꓳⲞⲟø0"], ["p", "рρᴘꓑⲢⲣᏢ"], ["q", "ԛ"], ["r", "ʀꓣ"],
  ["s", "ѕꜱꓢᏚ5$"], ["t", "тτᴛŧꓔⲦⲧᎢ7"], ["u", "υᴜսꓴ"], ["v", "νᴠꓦᏙ"], ["w", "ԝᴡꓪᎳ"], ["x", "хχꓫⲬⲭ"],
  ["y", "уʏꓬ"], ["z", "ᴢꓜ"],
];
const LOOKALIKES = new Map(LOOKALIKE_GROUPS.flatMap(([latin, others]) => [...others].map((ch) => [ch, latin] as const)));

function fold(text: string): string {
  return [...text].map((ch) => LOOKALIKES.get(ch) ?? ch).join("");
}

/** Staff words, each also refused with a plural "s" and joined to "team" ("Adminteam", "TeamSupport"). */
const STAFF_STEMS = ["admin", "administrator", "moderator", "moderation", "support", "staff", "official", "operator"].map(fold);
const STAFF_TOKENS = new Set(STAFF_STEMS.flatMap((w) => [w, `${w}s`, `${w}team`, `team${w}`]));
/** Two words that read as staff together, though each alone does not ("Mod Team"). */
const STAFF_PAIRS = new Set(["mod team", "mods team", "team mod", "team mods"].map(fold));
/** The site's name; "explicit" (an everyday word here) contains it and is not it. */
const BRAND = fold("xplicit");
const EVERYDAY_WORD = fold("explicit");
/** Ticks that read as a "verified" badge. */
const VERIFIED_MARKS = /[\u2713\u2714\u2611\u2705\u{1f5f8}\u{1f5f9}]/u;

/**
 * The name as a reader takes it: compatibility forms folded, accents off, look-alikes as Latin,
 * zero-width characters gone; split into words at spaces, signs and case changes ("SupportTeam"
 * is two words), a run of single letters read as one word ("A d m i n").
 */
function tokens(name: string): string[] {
  const plain = name.normalize("NFKC").replace(/\p{Cf}/gu, "").replace(/(\p{Ll})(\p{Lu})/gu, "$1 $2");
  const folded = fold(fold(plain).toLowerCase().normalize("NFD").replace(/\p{M}/gu, ""));
  const words = folded.split(/[^a-z]+/).filter(Boolean);
  const out: string[] = [];
  let letters = "";
  for (const w of words) {
    if (w.length === 1) {
      letters += w;
      continue;
    }
    if (letters) out.push(letters);
    letters = "";
    out.push(w);
  }
  if (letters) out.push(letters);
  return out;
}

/** True when the brand shows in `text` other than inside "explicit". */
function showsBrand(text: string): boolean {
  for (let at = text.indexOf(BRAND); at >= 0; at = text.indexOf(BRAND, at + 1)) {
    if (!text.startsWith(EVERYDAY_WORD, at - 1)) return true;
  }
  return false;
}

/** Why a name would pass for the site's staff, or null when it would not. */
export function staffLookalike(name: string): string | null {
  if (VERIFIED_MARKS.test(name)) return "a tick that reads as a verified badge";
  const words = tokens(name);
  if (showsBrand(words.join(""))) return "the site's name";
  const pairs = words.slice(1).map((w, i) => `${words[i]} ${w}`);
  // a staff word, or the whole name spelled as one ("Ad Min", "Sup Port")
  if (words.some((w) => STAFF_TOKENS.has(w)) || pairs.some((p) => STAFF_PAIRS.has(p)) || STAFF_TOKENS.has(words.join(""))) {
    return "a word that reads as the site's staff";
  }
  return null;
}
