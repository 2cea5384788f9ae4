// fetch for the api: same-origin cookies, JSON in and out, errors as ApiError.
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(memberMessage(status, code, message, retryAfter));
    this.status = status;
    this.code = code;
  }
}

/**
 * The refusals a member meets in the forms, in plain words. The server's messages name its fields
 * ("displayName must …"): right for API clients, not for people.
 */
const PLAIN = {
  handle_taken: 'That handle is taken. Try another one.',
  handle_reserved: 'That handle is kept for the site. Try another one.',
  email_taken: 'An account with that email already exists. Sign in instead?',
  invalid_handle: 'A handle is 3 to 30 lowercase letters, digits or _.',
  invalid_email: 'That email address does not look right.',
  invalid_password: 'The password must be 10 to 128 characters.',
  weak_password: 'That password is too easy to guess: avoid common words and passwords, runs like 1234567890 or qwertyuiop, repeats, and your handle or email.',
  invalid_birth_date: 'Enter your real date of birth (from 1900 on).',
  terms_not_accepted: 'Please accept the terms to create an account.',
  invalid_displayName: 'Your display name needs at least one visible character, at most 50, no text-direction controls and no piles of accents on one letter.',
  invalid_bio: 'Your bio can be at most 500 characters, without piles of accents on one letter.',
  displayName_reserved: 'That name reads like the site\'s own staff (names like Admin, Support or Xplicit, or a ✔). Choose another.',
  not_accepting: 'This member takes new conversations only from members they follow.',
  blocked: 'You cannot do that: one of you has blocked the other.',
  self: 'You cannot do that to yourself.',
  not_member: 'This conversation does not exist, or you are not in it.',
};

/** What a member reads: plain words for the refusals they can meet, and for the rest. */
function memberMessage(status, code, message, retryAfter) {
  if (status === 429) return `Too many requests just now. Try again in ${retryAfter && retryAfter < 600 ? `${retryAfter} seconds` : 'a few minutes'}.`;
  if (status >= 500 || code === 'internal' || code === 'unavailable') return 'Xplicit is having trouble right now. Try again in a moment.';
  if (code && PLAIN[code]) return PLAIN[code];
  const text = message || code || 'The request was refused';
  // a sentence: capital first, full stop last
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.');
}

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'The network is unreachable. Try again.');
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch {}
  if (!res.ok) throw new ApiError(res.status, json?.error?.code, json?.error?.message, Number(res.headers.get('retry-after')) || null);
  return json;
}

/** A POST that outlives the page (the member is navigating away); its answer is not read. */
export function postAsLeaving(path, body = {}) {
  void fetch(path, { method: 'POST', keepalive: true, credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch(() => {});
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body = {}) => api('PATCH', path, body);
export const put = (path, body = {}) => api('PUT', path, body);
export const del = (path, body) => api('DELETE', path, body);

/** The list inside a page answer, whatever the module named it. */
export const itemsOf = (json, ...names) => {
  for (const n of [...names, 'items']) if (Array.isArray(json?.[n])) return json[n];
  return Array.isArray(json) ? json : [];
};
