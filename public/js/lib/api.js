// fetch for the api: same-origin cookies, JSON in and out, errors as ApiError.
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(memberMessage(status, code, message, retryAfter));
    this.status = status;
    this.code = code;
  }
}

/** What a member reads: the server's own words for a refused request, plain words for the rest. */
function memberMessage(status, code, message, retryAfter) {
  if (status === 429) return `Too many requests just now. Try again in ${retryAfter && retryAfter < 600 ? `${retryAfter} seconds` : 'a few minutes'}.`;
  if (status >= 500 || code === 'internal' || code === 'unavailable') return 'Xplicit is having trouble right now. Try again in a moment.';
  return message || code || 'The request was refused.';
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

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body = {}) => api('PATCH', path, body);
export const put = (path, body = {}) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

/** The list inside a page answer, whatever the module named it. */
export const itemsOf = (json, ...names) => {
  for (const n of [...names, 'items']) if (Array.isArray(json?.[n])) return json[n];
  return Array.isArray(json) ? json : [];
};
