import { badRequest, unprocessable } from "@xplicit/shared/errors";
import { isStorableText } from "@xplicit/shared/http";

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
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email) || !isStorableText(email)) throw badRequest("invalid_email", "email is not a valid address");
  return email;
}

export function checkPassword(raw: unknown): string {
  if (typeof raw !== "string" || raw.length < 10 || raw.length > 128) {
    throw badRequest("invalid_password", "password must be 10 to 128 characters");
  }
  return raw;
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

export function parseRegistration(body: Record<string, unknown>): Registration {
  const email = normaliseEmail(body.email);
  if (typeof body.handle !== "string" || !HANDLE.test(body.handle)) {
    throw badRequest("invalid_handle", "handle must be 3 to 30 of a-z, 0-9 and _");
  }
  const password = checkPassword(body.password);
  const birthDate = checkBirthDate(body.birthDate);
  if (body.acceptTerms !== true) throw badRequest("terms_not_accepted", "acceptTerms must be true");
  return { email, handle: body.handle, password, birthDate };
}
