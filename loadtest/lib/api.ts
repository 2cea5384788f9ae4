/**
 * HTTP side of a simulated member: registration/login (session cookie), and the calls the
 * scenarios make. Many members share one VU, so the session cookie never lives in the VU's cookie
 * jar: it is passed explicitly on every request (`replace` keeps any jar cookie of the same name
 * out), and sign-up/login run with a throwaway jar. Otherwise, through nginx (https), the jar would
 * send the previous member's `__Host-sid` with the next registration and the api would revoke that
 * session (a login or registration ends the session it is sent with). Over plain http the jar would
 * not send the `Secure` cookie at all.
 */
import http from "k6/http";
import type { RefinedResponse, ResponseType, Params } from "k6/http";
import { check, sleep } from "k6";
import { BASE_URL, COOKIE_NAME, ORIGIN, PASSWORD, REGISTER_CONCURRENCY } from "./config.ts";

/** A signed-in member as the scenarios use one: the handle and the session cookie's value. */
export interface Member {
  handle: string;
  sid: string;
  /** when the account was created, by the database's clock (the api's `user.createdAt`) */
  createdAt?: string;
}

/**
 * Many members, as setup() hands them to the VUs: k6 gives every VU its own copy of setup()'s
 * data (JSON-encoded once, parsed once per VU), so with N members and N VUs the copies grow as
 * N². Two flat string arrays (member i = handles[i], sids[i]) cost a fraction of an array of
 * objects; build a Member with memberAt() where one is needed.
 */
export interface Members {
  handles: string[];
  sids: string[];
}

export function packMembers(list: Member[]): Members {
  return { handles: list.map((m) => m.handle), sids: list.map((m) => m.sid) };
}

export function memberAt(list: Members, i: number): Member | null {
  const handle = list.handles[i];
  const sid = list.sids[i];
  return handle === undefined || sid === undefined ? null : { handle, sid };
}

type Res = RefinedResponse<ResponseType | undefined>;

/**
 * Origin (CSRF rule: POST/DELETE/PATCH without an allowed Origin are refused with 403) and JSON
 * content type on every request; the member's session cookie, or a fresh jar when there is none.
 */
export function authParams(sid: string | null, name: string, extra: Params = {}): Params {
  const headers: Record<string, string> = { Origin: ORIGIN, "Content-Type": "application/json", ...(extra.headers ?? {}) };
  const p: Params = { ...extra, headers, tags: { name, ...(extra.tags ?? {}) } };
  if (sid) p.cookies = { [COOKIE_NAME]: { value: sid, replace: true } };
  else p.jar = new http.CookieJar();
  return p;
}

/** The session id from a login/register answer. */
export function sessionFrom(res: Res): string | null {
  const jar = res.cookies[COOKIE_NAME];
  if (jar && jar[0] && jar[0].value) return jar[0].value;
  const raw = res.headers["Set-Cookie"] ?? "";
  const m = new RegExp(`${COOKIE_NAME.replace(/[-_]/g, "\\$&")}=([^;,\\s]+)`).exec(raw);
  return m && m[1] ? m[1] : null;
}

export function json<T = any>(res: Res): T | null {
  try {
    return (typeof res.body === "string" && res.body.length ? JSON.parse(res.body) : null) as T | null;
  } catch (e) {
    return null;
  }
}

/** Handle (3-30 of a-z 0-9 _) and email of member `index` of a run; the index is never cut off. */
export function memberIdentity(runId: string, index: number) {
  const suffix = `_${index}`;
  const prefix = `lt${runId}`.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 30 - suffix.length);
  const handle = prefix + suffix;
  return { handle, email: `${handle}@loadtest.example` };
}

/**
 * A registration whose handle is taken (409) is the expected answer on a rerun with the same
 * RUN_ID (the member then logs in): it must not count in http_req_failed, which the scenarios'
 * thresholds bound over the whole run, setup() included.
 */
function registerParams(): Params {
  return authParams(null, "register", { responseCallback: http.expectedStatuses({ min: 200, max: 399 }, 409, 429) });
}

function registration(runId: string, index: number): string {
  const { handle, email } = memberIdentity(runId, index);
  return JSON.stringify({ email, handle, password: PASSWORD, birthDate: "1990-01-01", acceptTerms: true });
}

/** A Member from a 200/201 answer of register or login, or null. */
function signedIn(res: Res, handle: string): Member | null {
  const ok = check(res, { "register/login 2xx": (r) => r.status === 200 || r.status === 201 });
  const sid = sessionFrom(res);
  const user = json<{ user?: { id: string | number; createdAt?: string } }>(res)?.user;
  if (!ok || !sid || !user) return null;
  return typeof user.createdAt === "string" ? { handle, sid, createdAt: user.createdAt } : { handle, sid };
}

/** Sign-ups and logins refused by the edge's per-IP limit are waited out and tried again this many times. */
const EDGE_LIMIT_RETRIES = 200;
let edgeLimitNoted = false;

/**
 * The edge limits sign-ups and logins per IP (20 a minute by default) and one k6 machine is one IP:
 * wait what `Retry-After` says instead of failing the run, and say once how to lift the limit.
 */
function waitOutEdgeLimit(res: Res): void {
  if (!edgeLimitNoted) {
    edgeLimitNoted = true;
    console.warn(
      "the edge limits sign-ups and logins per IP (429): setup waits for each Retry-After, which makes it slow; " +
        "raise EDGE_AUTH_PER_MINUTE / EDGE_AUTH_BURST for load tests (README, 'k6')",
    );
  }
  const seconds = Number(res.headers["Retry-After"]);
  sleep(Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) : 3);
}

/** Posts until the answer is not the edge's 429 (waited out), EDGE_LIMIT_RETRIES times at most. */
function postPatiently(path: string, body: string, params: Params): Res {
  let res: Res = http.post(`${BASE_URL}${path}`, body, params);
  for (let i = 0; res.status === 429 && i < EDGE_LIMIT_RETRIES; i++) {
    waitOutEdgeLimit(res);
    res = http.post(`${BASE_URL}${path}`, body, params);
  }
  return res;
}

function login(runId: string, index: number): Member | null {
  const { handle, email } = memberIdentity(runId, index);
  const params = authParams(null, "login", { responseCallback: http.expectedStatuses({ min: 200, max: 399 }, 429) });
  return signedIn(postPatiently("/api/auth/login", JSON.stringify({ email, password: PASSWORD }), params), handle);
}

/** Registers the member, or logs in when the handle already exists (a rerun with the same RUN_ID). */
export function registerOrLogin(runId: string, index: number): Member | null {
  const res = postPatiently("/api/auth/register", registration(runId, index), registerParams());
  if (res.status === 409) return login(runId, index);
  return signedIn(res, memberIdentity(runId, index).handle);
}

/**
 * Registers `count` members `concurrency` at a time with http.batch (password hashing makes
 * registration the slow part of setup; batching keeps the server's cores busy). Member i of the
 * result has index firstIndex + i.
 */
export function createMembers(runId: string, count: number, concurrency = REGISTER_CONCURRENCY, firstIndex = 0): Member[] {
  const out: Member[] = [];
  for (let start = 0; start < count; start += concurrency) {
    const reqs: Array<[string, string, string, Params]> = [];
    const idx: number[] = [];
    for (let i = start; i < Math.min(count, start + concurrency); i++) {
      reqs.push(["POST", `${BASE_URL}/api/auth/register`, registration(runId, firstIndex + i), registerParams()]);
      idx.push(firstIndex + i);
    }
    const responses = http.batch(reqs);
    responses.forEach((res, k) => {
      const index = idx[k]!;
      // 409: registered by an earlier run with this RUN_ID; anything else but 201 (the edge's 429
      // included: waited out there): try again.
      const member = res.status === 201 ? signedIn(res, memberIdentity(runId, index).handle) : res.status === 409 ? login(runId, index) : registerOrLogin(runId, index);
      if (member) out.push(member);
    });
  }
  // A run with fewer members than asked for is a different load (and, for the chat scenarios,
  // wrong expectations): stop instead of measuring it.
  if (out.length < count) throw new Error(`setup created only ${out.length} of ${count} members (see the failed checks; through nginx, raise EDGE_AUTH_PER_MINUTE / EDGE_AUTH_BURST as the README says)`);
  return out;
}

export function get(m: Member, path: string, name: string): Res {
  return http.get(`${BASE_URL}${path}`, authParams(m.sid, name));
}

export function post(m: Member, path: string, body: unknown, name: string): Res {
  return http.post(`${BASE_URL}${path}`, JSON.stringify(body ?? {}), authParams(m.sid, name));
}

export function del(m: Member, path: string, name: string): Res {
  return http.del(`${BASE_URL}${path}`, null, authParams(m.sid, name));
}

/**
 * Conversations of consecutive members: conversation k holds members k·size … k·size + size − 1
 * (the last one fewer; a last member left alone has none). Kept as ids only, for the same reason
 * as Members.
 */
export interface Groups {
  ids: string[];
  size: number;
  /** how many members were grouped */
  members: number;
}

/** The conversation member `memberIndex` is in, with its number of members, or null. */
export function groupOf(groups: Groups, memberIndex: number): { id: string; members: number } | null {
  const k = Math.floor(memberIndex / groups.size);
  const id = groups.ids[k];
  if (id === undefined || memberIndex < 0) return null;
  return { id, members: Math.min(groups.size, groups.members - k * groups.size) };
}

/** Opens a 1:1 (one other handle) or group conversation as `owner`. */
export function createConversation(owner: Member, others: Member[]): string | null {
  const res = post(owner, "/api/conversations", { handles: others.map((o) => o.handle) }, "create_conversation");
  check(res, { "conversation created": (r) => r.status === 200 || r.status === 201 });
  const body = json<any>(res);
  const id = body?.conversation?.id ?? body?.id;
  return id === undefined || id === null ? null : String(id);
}

/** Groups members into conversations of `size` (2 = 1:1 pairs; at most 50), each member in at most one. */
export function pairUp(members: Member[], size: number): Groups {
  const n = Math.max(2, Math.min(50, size));
  const ids: string[] = [];
  for (let start = 0; start + 1 < members.length; start += n) {
    const group = members.slice(start, start + n);
    const id = createConversation(group[0]!, group.slice(1));
    if (!id) throw new Error(`setup could not create the conversation of @${group[0]!.handle}`);
    ids.push(id);
  }
  return { ids, size: n, members: members.length };
}
