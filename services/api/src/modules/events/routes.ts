/**
 * The member's event stream over HTTP, for clients that cannot hold a WebSocket: the same events
 * with the same seqs (docs/protocol.md), long-polled, acknowledged with the same cumulative ack.
 */
import { Hono } from "hono";
import { badRequest, unauthorized } from "@xplicit/shared/errors";
import { createWriteLimit, readJsonObject } from "@xplicit/shared/http";
import { parseResumeEpoch, type ReplayResult } from "@xplicit/shared/modules/events";
import type { ApiDeps, ApiEnv } from "../../deps.ts";
import { requireMember, sessionToken } from "../../session/middleware.ts";
import { createWaiters } from "./waiters.ts";

const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
const LONGPOLL_PRESENCE = "http-longpoll";
/** A long-poll client is online this long past its poll's wait (it polls again at once; backoff after errors is longer). */
const LONGPOLL_ONLINE_AFTER_SECONDS = 15;
/**
 * One answer carries at most this much of the log (at least one event); the client polls again
 * from the cursor it was given (`more: true`). A whole replay log is up to 1 MiB: answering it to
 * every request of a 200-byte loop sent a member's log out at hundreds of MB/s.
 */
export const MAX_EVENTS_PER_ANSWER = 200;
export const MAX_BYTES_PER_ANSWER = 256 * 1024;
/** Polls per member per 10 s, all api processes together: a client draining a busy stream polls as fast as answers return. */
export const POLLS_PER_10S = 200;
/** The longest a poll waits for events (`wait`). */
export const MAX_WAIT_SECONDS = 25;

function intParam(raw: string | undefined, name: string, min: number, max: number): number | null {
  if (raw === undefined || raw === "") return null;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw badRequest("invalid", `${name} must be an integer ${min}..${max}`);
  return Number(raw);
}

/** The oldest frames within one answer's bounds, and whether any were left for the next poll. */
function firstPart(frames: readonly string[]): { frames: readonly string[]; more: boolean } {
  let n = 0;
  let bytes = 0;
  while (n < frames.length && n < MAX_EVENTS_PER_ANSWER) {
    const size = Buffer.byteLength(frames[n]!);
    if (n > 0 && bytes + size > MAX_BYTES_PER_ANSWER) break;
    bytes += size;
    n++;
  }
  return { frames: n === frames.length ? frames : frames.slice(0, n), more: n < frames.length };
}

/** `userId`: whose stream it is (a browser tab of another member, signed out meanwhile, must not take it for its own). */
function answer(userId: string, result: ReplayResult, after: number) {
  if (!result.ok) return { userId, resync: { reason: result.reason }, cursor: result.head.seq, epoch: result.head.epoch };
  const part = firstPart(result.frames);
  const events = part.frames.map((f) => JSON.parse(f) as { seq: number });
  const cursor = part.more ? events[events.length - 1]!.seq : events.length ? result.head.seq : after;
  return { userId, events, cursor, epoch: result.head.epoch, ...(part.more ? { more: true } : {}) };
}

export function eventsRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const auth = requireMember(deps);
  const waiters = createWaiters(deps);
  const polls = createWriteLimit(deps.redis, deps.keys, "events-poll", POLLS_PER_10S, 10_000, "event polls");

  app.get("/events", auth, async (c) => {
    const { userId } = c.get("member");
    await polls.take(userId);
    const clientId = c.req.query("clientId");
    if (clientId !== undefined && !CLIENT_ID.test(clientId)) throw badRequest("invalid", "clientId must be 8-64 characters of A-Z a-z 0-9 _ -");
    const waitSeconds = intParam(c.req.query("wait"), "wait", 0, MAX_WAIT_SECONDS) ?? 0;
    let epoch = parseResumeEpoch(c.req.query("epoch"));
    let after = intParam(c.req.query("after"), "after", 0, Number.MAX_SAFE_INTEGER);
    if (after === null && clientId) {
      const stored = await deps.events.loadAck(userId, clientId);
      if (stored) [after, epoch] = [stored.seq, stored.epoch];
    }
    if (after === null) {
      // from the head: its epoch, unless the client named the one it holds (a stale one resyncs)
      const head = await deps.events.head(userId);
      after = head.seq;
      epoch ??= head.epoch;
    }

    // A member polling over HTTP has an open client: "online" for the worker and peers while the
    // poll waits and a moment after (the client polls again at once); a client that stops — signed
    // out, closed — is offline that much later, not a whole presence period.
    await deps.presence.refresh(LONGPOLL_PRESENCE, [userId], waitSeconds + LONGPOLL_ONLINE_AFTER_SECONDS);
    let result = await deps.events.replayAfter(userId, after, epoch);
    if (result.ok && result.frames.length === 0 && waitSeconds > 0) {
      const from = after;
      await waiters.wait(userId, waitSeconds * 1000, c.req.raw.signal, async () => (await deps.events.head(userId)).seq > from);
      // the session may have ended while the poll waited ("sign out everywhere"): nothing more for it
      if (!(await deps.sessions.verify(sessionToken(c, deps)))) throw unauthorized();
      result = await deps.events.replayAfter(userId, after, epoch);
    }
    c.header("Cache-Control", "no-store");
    return c.json(answer(userId, result, after));
  });

  app.post("/events/ack", auth, async (c) => {
    const body = await readJsonObject(c);
    if (typeof body.clientId !== "string" || !CLIENT_ID.test(body.clientId)) throw badRequest("invalid", "clientId is required");
    if (!Number.isSafeInteger(body.seq) || (body.seq as number) < 0) throw badRequest("invalid", "seq must be a non-negative integer");
    if (body.epoch !== undefined && (typeof body.epoch !== "string" || body.epoch === "")) throw badRequest("invalid", "epoch must be the stream's epoch string");
    const head = await deps.events.head(c.get("member").userId);
    // (storeAck drops an ack of an epoch the stream no longer has; without one, it counts in the current)
    await deps.events.storeAck(c.get("member").userId, body.clientId, Math.min(body.seq as number, head.seq), (body.epoch as string | undefined) ?? head.epoch);
    return c.json({ ok: true });
  });

  return app;
}
