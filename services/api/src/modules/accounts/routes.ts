/**
 * Registration, login, logout and the member's own account and sessions.
 */
import { Hono, type Context } from "hono";
import { badRequest, forbidden, notFound, tooManyRequests, unauthorized } from "@xplicit/shared/errors";
import { clientIp, readJsonObject } from "@xplicit/shared/http";
import { createLogger } from "@xplicit/shared/log";
import { clearedSessionCookie, deviceCookie, readCookie, sessionCookie } from "@xplicit/shared/sessions";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember, sessionToken } from "../../session/middleware.ts";
import { DEVICE_DAYS, createLoginThrottle, type KnownDevice } from "./login-throttle.ts";
import { deleteAccount } from "./deletion.ts";
import { findAccount, findCredentials, insertAccount, updatePasswordHash, type Account } from "./store.ts";
import { checkPassword, checkPasswordStrength, normaliseEmail, parseRegistration } from "./validation.ts";

const log = createLogger("accounts");

// Verifying against a real hash when the email is unknown keeps both paths equally slow.
const DUMMY_HASH = await Bun.password.hash("not-a-real-password-xplicit");

/** This browser signed in to an account before (login-throttle.ts): its failures are its own. */
const DEVICE_COOKIE = "__Host-xdev";

export function accountsRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const throttle = createLoginThrottle(deps.redis, deps.keys, deps.config.login);
  const ipOf = (c: Context) => clientIp(c, deps.config.trustedProxies);

  async function startSession(c: Context, userId: string) {
    const old = sessionToken(c, deps);
    if (old) await deps.sessions.revokeToken(old);
    const session = await deps.sessions.create(userId, {
      userAgent: c.req.header("user-agent") ?? "",
      ip: ipOf(c),
    });
    c.header("Set-Cookie", sessionCookie(deps.config.session.cookieName, session.token, deps.config.session.absoluteSeconds));
    c.header("Cache-Control", "no-store");
    return session;
  }

  /** Remembers this browser for the account it just signed in to (the login brake's device cookie). */
  async function rememberDevice(c: Context, email: string, device: KnownDevice | null) {
    const value = await throttle.rememberDevice(email, readCookie(c.req.header("cookie"), DEVICE_COOKIE), device);
    c.header("Set-Cookie", deviceCookie(DEVICE_COOKIE, value, DEVICE_DAYS * 86_400), { append: true });
  }

  app.post("/auth/register", async (c) => {
    const reg = parseRegistration(await readJsonObject(c));
    const hash = await Bun.password.hash(reg.password, { algorithm: "argon2id" });
    const account = await insertAccount(deps.sql, reg, hash);
    await startSession(c, account.id);
    await rememberDevice(c, normaliseEmail(reg.email), null);
    log.audit("register", { userId: account.id, ip: ipOf(c) });
    return c.json({ user: account }, 201);
  });

  app.post("/auth/login", async (c) => {
    const body = await readJsonObject(c);
    const email = normaliseEmail(body.email);
    if (typeof body.password !== "string" || body.password.length === 0 || body.password.length > 128) {
      throw badRequest("invalid_password", "password is required");
    }
    const ip = ipOf(c);
    const device = await throttle.knownDevice(readCookie(c.req.header("cookie"), DEVICE_COOKIE), email);
    const wait = await throttle.begin(email, ip, device);
    if (wait > 0) {
      log.audit("login_throttled", { ip, retryAfter: wait, knownDevice: device !== null });
      throw tooManyRequests(wait, "too many failed logins; try again later");
    }
    const creds = await findCredentials(deps.sql, email);
    const ok = await Bun.password.verify(body.password, creds?.passwordHash ?? DUMMY_HASH);
    if (!creds || !ok) {
      log.audit("login_failed", { ip, knownAccount: !!creds, knownDevice: device !== null });
      throw unauthorized("email or password is wrong");
    }
    await throttle.recordSuccess(email, ip, device);
    const session = await startSession(c, creds.id);
    await rememberDevice(c, email, device);
    log.audit("login", { userId: creds.id, sessionId: session.sessionId, ip });
    const account = await findAccount(deps.sql, creds.id);
    return c.json({ user: account });
  });

  app.post("/auth/logout", async (c) => {
    const revoked = await deps.sessions.revokeToken(sessionToken(c, deps));
    if (revoked) log.audit("logout", { userId: revoked.userId, sessionId: revoked.sessionId });
    c.header("Set-Cookie", clearedSessionCookie(deps.config.session.cookieName));
    return c.json({ ok: true });
  });

  app.post("/auth/logout-all", requireMember(deps), async (c) => {
    const { userId } = c.get("member");
    const count = await deps.sessions.revokeAll(userId);
    log.audit("logout_all", { userId, sessions: count });
    c.header("Set-Cookie", clearedSessionCookie(deps.config.session.cookieName));
    return c.json({ ok: true, revoked: count });
  });

  // Whether this browser is signed in, as 200 either way: the landing page asks on every visit,
  // and a 401 there would be an error line in every signed-out visitor's console.
  app.get("/session", async (c) => {
    const session = await deps.sessions.verify(sessionToken(c, deps));
    c.header("Cache-Control", "no-store");
    return c.json({ signedIn: session !== null });
  });

  app.get("/me", requireMember(deps), async (c) => {
    const account = await findAccount(deps.sql, c.get("member").userId);
    if (!account) throw unauthorized();
    c.header("Cache-Control", "no-store");
    return c.json({ user: account });
  });

  /**
   * The signed-in member's password, asked again before a change that a borrowed or stolen session
   * alone must not make; wrong guesses count against the failed-login budget. `action` names the
   * audit lines.
   */
  async function confirmPassword(c: Context<ApiEnv>, field: string, password: unknown, action: string): Promise<Account> {
    if (typeof password !== "string" || password.length === 0 || password.length > 128) throw badRequest("invalid_password", `${field} is required`);
    const { userId } = c.get("member");
    const account = await findAccount(deps.sql, userId);
    const creds = account ? await findCredentials(deps.sql, account.email) : null;
    if (!account || !creds) throw unauthorized();
    const ip = ipOf(c);
    const device = await throttle.knownDevice(readCookie(c.req.header("cookie"), DEVICE_COOKIE), account.email);
    const wait = await throttle.begin(account.email, ip, device);
    if (wait > 0) {
      log.audit(`${action}_throttled`, { userId, ip, retryAfter: wait });
      throw tooManyRequests(wait, "too many wrong passwords; try again later");
    }
    if (!(await Bun.password.verify(password, creds.passwordHash))) {
      log.audit(`${action}_failed`, { userId, ip });
      throw forbidden("wrong_password", "the current password is wrong");
    }
    await throttle.recordSuccess(account.email, ip, device);
    return account;
  }

  /**
   * A new password, given the current one. Every other session ends (a member changing a password
   * that leaked signs the intruder out); this one goes on, and with it this browser's open pages
   * and their connection.
   */
  app.post("/me/password", requireMember(deps), async (c) => {
    const body = await readJsonObject(c);
    const account = await confirmPassword(c, "currentPassword", body.currentPassword, "password_change");
    const userId = account.id;
    const ip = ipOf(c);
    const next = checkPassword(body.newPassword);
    checkPasswordStrength(next, { handle: account.handle, email: account.email });
    if (next === body.currentPassword) throw badRequest("same_password", "choose a password other than the current one");
    await updatePasswordHash(deps.sql, userId, await Bun.password.hash(next, { algorithm: "argon2id" }));
    const ended = await deps.sessions.revokeAll(userId, sessionToken(c, deps));
    log.audit("password_changed", { userId, ip, sessionsEnded: ended });
    return c.json({ ok: true, otherSessionsEnded: ended });
  });

  /** Deleting the account, with the password (deletion.ts says what goes). */
  app.delete("/me", requireMember(deps), async (c) => {
    const body = await readJsonObject(c);
    const account = await confirmPassword(c, "password", body.password, "account_deletion");
    // Bun closes a connection idle for its idleTimeout (60 s), one whose answer is still being made
    // included: a long deletion (big groups) keeps its own open (the server is Hono's env on Bun)
    (c.env as { timeout?: (req: Request, seconds: number) => void } | undefined)?.timeout?.(c.req.raw, 0);
    await deleteAccount(deps, account.id);
    log.audit("account_deleted", { userId: account.id, ip: ipOf(c) });
    c.header("Set-Cookie", clearedSessionCookie(deps.config.session.cookieName));
    return c.json({ ok: true });
  });

  app.get("/me/sessions", requireMember(deps), async (c) => {
    const { userId, sessionId } = c.get("member");
    return c.json({ sessions: await deps.sessions.list(userId, sessionId) });
  });

  app.delete("/me/sessions/:id", requireMember(deps), async (c) => {
    const id = c.req.param("id");
    if (!/^\d{1,18}$/.test(id)) throw notFound("no such session");
    const { userId } = c.get("member");
    if (!(await deps.sessions.revokeById(userId, id))) throw notFound("no such session");
    log.audit("session_revoked", { userId, sessionId: id });
    return c.json({ ok: true });
  });

  return app;
}
