import { badRequest, unprocessable } from "@xplicit/shared/errors";
import { characterCount, isStorableText } from "@xplicit/shared/http";
import { staffLookalike } from "@xplicit/shared/modules/profiles";

export const HANDLE = /^[a-z0-9_]{3,30}$/;
// No whitespace, no control characters (NUL would fail the Postgres lookup with a 500).
const EMAIL = /^[^\s@\u0000-\u001f\u007f]{1,64}@[^\s@\u0000-\u001f\u007f]{1,253}\.[^\s@\u0000-\u001f\u007f]{2,63}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export interface Registration {
  email: string;
  handle: string;
  password: string;
  birthDate: string;
}

export function normaliseEmail(raw: unknown): string {
  if (typeof raw !== "string") throw badRequest("invalid_email", "email is required");
  // one address, one account: "ü" typed composed or decomposed is the same address
  const email = raw.trim().normalize("NFC").toLowerCase();
  if (email.length > 254 || !EMAIL.test(email) || !isStorableText(email)) throw badRequest("invalid_email", "email is not a valid address");
  return email;
}

export function checkPassword(raw: unknown): string {
  // characters as members see them (graphemes): five emoji are 10 UTF-16 units but 5 characters
  if (typeof raw !== "string" || raw.length > 128 || characterCount(raw) < 10) {
    throw badRequest("invalid_password", "password must be 10 to 128 characters");
  }
  return raw;
}

/** Among the most used passwords of 10 characters or more (lower case). */
const COMMON = new Set([
  "1234567890", "0123456789", "1q2w3e4r5t", "qwertyuiop", "password12", "password123", "password1234",
  "iloveyou12", "qwerty1234", "qwerty12345", "asdfghjkl1", "1qaz2wsx3edc", "abcdefghij", "abc1234567",
  "passw0rd12", "letmein123", "welcome123", "football12", "starwars12", "xplicit123",
]);

/** Keyboard rows as typed, both ways: a walk along one ("qwertyuiop", "asdfghjkl;") is no secret. */
const KEYBOARD_ROWS = ["1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./", "qwertzuiop", "azertyuiop", "1qaz2wsx3edc4rfv5tgb", "zaq12wsxcde3"];

/** The password is one unit said again and again ("abcabcabcabc", "passwordpassword"). */
function isRepeatedUnit(p: string): boolean {
  for (let n = 1; n <= p.length / 2; n++) {
    if (p.length % n === 0 && p.slice(0, n).repeat(p.length / n) === p) return true;
  }
  return false;
}

/** Mostly a keyboard walk: what is left after it, at either end, is at most 3 characters. */
function isKeyboardWalk(p: string): boolean {
  for (const row of KEYBOARD_ROWS) {
    for (const line of [row, [...row].reverse().join("")]) {
      for (let len = Math.min(line.length, p.length); len >= 6; len--) {
        for (let i = 0; i + len <= line.length; i++) {
          if (p.includes(line.slice(i, i + len))) return p.length - len <= 3;
        }
      }
    }
  }
  return false;
}

/** Words at the root of the most used passwords: alone or with a few digits or symbols after them. */
const COMMON_WORDS = new Set([
  "password", "passwort", "motdepasse", "contrasena", "qwerty", "iloveyou", "letmein", "welcome", "football",
  "baseball", "starwars", "superman", "batman", "dragon", "monkey", "sunshine", "princess", "shadow", "master",
  "trustno1", "whatever", "freedom", "computer", "internet", "michael", "jennifer", "jordan23", "liverpool",
  "chelsea", "arsenal", "pokemon", "naruto", "minecraft", "fortnite", "charlie", "samsung", "secret", "changeme",
  "admin", "administrator", "login", "access", "xplicit", "sexy", "sexygirl", "hottie", "lovely", "babygirl",
  "loveme", "fuckyou", "pussy", "horny", "hardcore", "porn", "naughty", "kinky", "passion", "playboy",
]);

/** Each character one up or one down from the one before (digits wrap: …8901…), or all the same. */
function isRunOrRepeat(p: string): boolean {
  let up = true;
  let down = true;
  let same = true;
  for (let i = 1; i < p.length; i++) {
    const [a, b] = [p.charCodeAt(i - 1), p.charCodeAt(i)];
    const digits = a >= 48 && a <= 57 && b >= 48 && b <= 57;
    up &&= b === a + 1 || (digits && a === 57 && b === 48);
    down &&= b === a - 1 || (digits && a === 48 && b === 57);
    same &&= a === b;
  }
  return up || down || same;
}

/**
 * NIST SP 800-63B's checks beyond length: a password that is repetitive or sequential, one of the
 * most common, or the account's own handle or email is refused (passwords are compared as typed
 * otherwise: no composition rules).
 */
export function checkPasswordStrength(password: string, context: { handle: string; email: string }): void {
  const p = password.toLowerCase();
  const own = [context.handle, context.email, context.email.split("@")[0] ?? ""].filter((w) => w.length >= 3);
  // a common word with a few digits or symbols at the end ("password2024!") is that word
  const core = p.replace(/[\d\W_]{1,6}$/u, "");
  const common = COMMON.has(p) || COMMON_WORDS.has(core) || isRepeatedUnit(p) || isRepeatedUnit(core);
  if (common || isRunOrRepeat(p) || isKeyboardWalk(p) || own.some((w) => p === w || p.replace(w, "").length < 4)) {
    throw badRequest("weak_password", "password is too easy to guess (a common password, a run like 1234567890, or your handle or email)");
  }
}

/** Age in whole years on `today` (UTC), from an ISO date. */
export function ageOn(birth: { y: number; m: number; d: number }, today: Date): number {
  const y = today.getUTCFullYear();
  const m = today.getUTCMonth() + 1;
  const d = today.getUTCDate();
  return y - birth.y - (m < birth.m || (m === birth.m && d < birth.d) ? 1 : 0);
}

export function checkBirthDate(raw: unknown, today = new Date()): string {
  const match = typeof raw === "string" ? ISO_DATE.exec(raw) : null;
  if (!match) throw badRequest("invalid_birth_date", "birthDate must be YYYY-MM-DD");
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d || y < 1900 || date > today) {
    throw badRequest("invalid_birth_date", "birthDate must be a real date (YYYY-MM-DD) between 1900-01-01 and today");
  }
  if (ageOn({ y, m, d }, today) < 18) throw unprocessable("underage", "members must be at least 18 years old");
  return raw as string;
}

/** Handles that would read as the site speaking, kept for it. */
const RESERVED_HANDLES = new Set([
  "admin", "administrator", "root", "system", "sysadmin", "support", "help", "helpdesk", "security", "abuse",
  "moderator", "moderators", "mod", "mods", "staff", "team", "official", "xplicit", "xplicit_team", "xplicit_support",
  "noreply", "no_reply", "postmaster", "webmaster", "operator", "operators", "api", "null", "undefined", "me",
  "settings", "notifications", "conversations", "profile", "login", "logout", "register", "signup", "billing",
]);

export function parseRegistration(body: Record<string, unknown>): Registration {
  const email = normaliseEmail(body.email);
  if (typeof body.handle !== "string" || !HANDLE.test(body.handle)) {
    throw badRequest("invalid_handle", "handle must be 3 to 30 of a-z, 0-9 and _");
  }
  // (a new member's display name is their handle: it must pass the display name's rule too)
  if (RESERVED_HANDLES.has(body.handle) || staffLookalike(body.handle)) throw badRequest("handle_reserved", "this handle is kept for the site; choose another");
  const password = checkPassword(body.password);
  checkPasswordStrength(password, { handle: body.handle, email });
  const birthDate = checkBirthDate(body.birthDate);
  if (body.acceptTerms !== true) throw badRequest("terms_not_accepted", "acceptTerms must be true");
  return { email, handle: body.handle, password, birthDate };
}
