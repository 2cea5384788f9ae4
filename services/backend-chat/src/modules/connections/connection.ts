/**
 * One client socket: the hello/replay handshake, per-socket delivery cursor, acks, and the frames
 * a client may send. Durable events are written in strict seq order with no gaps: anything that
 * arrives live while the socket replays (or while a gap is being filled from the log) waits in
 * `pending` until the cursor reaches it.
 */
import type { ServerWebSocket } from "bun";
import { AppError, isDependencyUnavailable } from "@xplicit/shared/errors";
import { frameSeq, parseResumeEpoch, type StreamHead } from "@xplicit/shared/modules/events";
import { conversationInfo, markRead, notMember, parseId, parseSendInput, sendMessage } from "@xplicit/shared/modules/messages";
import { createLogger } from "@xplicit/shared/log";
import type { UpgradeSession } from "../../deps.ts";
import { EVENT_PREFIX, frame, frameTs } from "./frames.ts";
import type { Hub } from "./hub.ts";
import { TypingThrottle } from "./typing.ts";
import { deliveryLatency, framesIn, framesOut, framesRateLimited, rates, resumeOutcomes, sendDedupHits, sendsRefused, slowConsumerCloses } from "./metrics.ts";
import { takeTokens, type BucketState } from "@xplicit/shared/limits";

const log = createLogger("connections");
const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
const HELLO_TIMEOUT_MS = 10_000;
/**
 * How long an own event ahead of the cursor waits for the events before it (on their way through
 * pub/sub) before they are read from the log instead.
 */
const OWN_EVENT_WAIT_MS = 250;

type State = "awaiting_hello" | "replaying" | "live" | "closed";

export interface SocketData {
  conn: Connection;
}

let opened = 0;

/** `hello.resume`: absent (null) or a cursor that can be replayed after; anything else is refused. */
function parseResume(raw: unknown): { cursor: number; epoch: unknown } | null | "invalid" {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "object" || Array.isArray(raw)) return "invalid";
  const { cursor, epoch } = raw as Record<string, unknown>;
  if (!Number.isSafeInteger(cursor) || (cursor as number) < 0) return "invalid";
  if (epoch !== undefined && epoch !== null && typeof epoch !== "string") return "invalid";
  return { cursor: cursor as number, epoch };
}

export class Connection implements BucketState {
  /** unique in this replica's lifetime (a number, not a UUID string: idle sockets are many) */
  private readonly connNo = ++opened;
  ws: ServerWebSocket<SocketData> | null = null;
  state: State = "awaiting_hello";
  clientId = "";
  /** highest seq written to this socket */
  cursor = 0;
  epoch = "";
  // Idle sockets are the common case (tens of thousands per replica): everything that only a busy
  // socket needs is allocated on first use, to keep the per-connection footprint small.
  private pending: string[] = NO_FRAMES;
  /** live events wait (queued) until the stream is checked after Redis came back (holdForStreamCheck) */
  private heldForCheck = false;
  tokens: number;
  tokensAt = performance.now();
  private droppedThisSecond = 0;
  private lastRateError = 0;
  private sendChain: Promise<void> | null = null;
  /** bytes of `send` frames waiting in the chain (CHAT_MAX_QUEUED_SEND_BYTES) */
  private queuedSendBytes = 0;
  /** when a send here last failed because Postgres or Redis was away (performance.now()) */
  private sendFailedAt = 0;
  private helloTimer: Timer | null = null;
  private typingThrottle: TypingThrottle | null = null;

  // The upgrade's session, kept as three fields rather than one more object per socket.
  readonly userId: string;
  readonly sessionId: string;
  readonly sessionToken: string;

  constructor(readonly hub: Hub, session: UpgradeSession) {
    this.userId = session.userId;
    this.sessionId = session.sessionId;
    this.sessionToken = session.token;
    this.tokens = hub.deps.config.chat.rateBurst;
  }

  /** (a method, so TypeScript does not narrow `state` across awaits) */
  isClosed(): boolean {
    return this.state === "closed";
  }

  get connId(): string {
    return `${this.hub.deps.config.chat.replicaName}-${this.connNo}`;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  opened(ws: ServerWebSocket<SocketData>): void {
    this.ws = ws;
    this.hub.track(this);
    // The caps are checked before the upgrade too; a burst of parallel upgrades can pass those
    // checks together, so the count that includes this socket decides.
    if (this.hub.all.size > this.hub.maxSockets) {
      this.close(1013, "replica full");
      return;
    }
    if (this.hub.socketsOf(this.userId) > this.hub.deps.config.chat.maxSocketsPerMember) {
      this.close(1008, "too many sockets");
      return;
    }
    this.helloTimer = setTimeout(() => {
      if (this.state === "awaiting_hello") this.close(4003, "hello required");
    }, HELLO_TIMEOUT_MS);
  }

  closed(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.stopOwnEventTimer();
    const wasAttached = this.state === "live" || this.state === "replaying";
    this.state = "closed";
    this.hub.untrack(this, wasAttached);
  }

  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    try {
      this.ws?.close(code, reason);
    } catch {}
  }

  // ---- writing -----------------------------------------------------------------------------

  /** Over half its send buffer: ephemeral frames (typing, presence) are dropped first. */
  private backedUp(): boolean {
    return !!this.ws && this.ws.getBufferedAmount() > this.hub.deps.config.chat.maxBufferedBytes / 2;
  }

  /** Ephemeral frames are the first thing dropped when the socket is backed up. */
  sendEphemeral(text: string): void {
    if (this.state !== "live" || !this.ws) return;
    if (this.backedUp()) return;
    this.ws.send(text);
    rates.out++;
  }

  /** An answer: never skipped either, so a socket that does not read its answers is closed 1013 too. */
  sendControl(text: string, type: string): void {
    const ws = this.ws;
    if (!ws || this.state === "closed" || this.closedIfOverflowing(ws, text)) return;
    ws.send(text);
    framesOut.inc(type);
    rates.out++;
  }

  /** A frame the socket's send buffer cannot take: close 1013 (the client resumes from its cursor). */
  private closedIfOverflowing(ws: ServerWebSocket<SocketData>, text: string): boolean {
    if (ws.getBufferedAmount() + text.length <= this.hub.deps.config.chat.maxBufferedBytes) return false;
    slowConsumerCloses.inc();
    this.close(1013, "slow consumer: resume from your cursor");
    this.state = "closed";
    return true;
  }

  /** A durable event: never skipped. If the socket cannot take it, close 1013 and let the client resume. */
  private writeEvent(text: string, seq: number): boolean {
    const ws = this.ws;
    if (!ws || this.state === "closed" || this.closedIfOverflowing(ws, text)) return false;
    ws.send(text);
    this.cursor = seq;
    framesOut.inc("event");
    rates.out++;
    const ts = frameTs(text);
    if (ts) deliveryLatency.observe(Math.max(0, Date.now() - ts) / 1000);
    return true;
  }

  /** Live frame from the member's Redis channel. */
  deliverLive(text: string): void {
    if (!text.startsWith(EVENT_PREFIX)) {
      this.sendEphemeral(text);
      return;
    }
    if (this.state === "replaying") {
      this.queue(text);
      return;
    }
    if (this.state !== "live") return;
    const seq = frameSeq(text);
    if (seq <= this.cursor) {
      // Seq 1 again, past it: the member's stream may have started over — Redis lost it without
      // dropping the connection (a FLUSHALL, an eviction) — and every later event would be dropped
      // here as a repeat. The head says which: same epoch, a repeat; another, resync.
      if (seq === 1) this.checkStreamStart();
      return;
    }
    if (seq === this.cursor + 1) {
      this.writeEvent(text, seq);
      if (this.pending.length) this.writeQueuedInOrder();
      return;
    }
    // A gap: an event was published while we were not listening (or pub/sub dropped it).
    this.queue(text);
    this.startCatchUp(seq - 1);
  }

  private startCatchUp(upTo: number): void {
    this.state = "replaying";
    void this.catchUp(upTo).catch((err) => this.fail("catch-up failed", err));
  }

  /**
   * One of the member's own events, written by this replica (it is not published for sockets
   * here). Ahead of the cursor, the events before it are still on their way through pub/sub: it
   * waits for them rather than reading the log at once, and the log is read if they do not come.
   */
  deliverOwnEvent(text: string): void {
    const seq = frameSeq(text);
    if (this.state !== "live" || seq <= this.cursor + 1) return this.deliverLive(text);
    this.queue(text);
    if (ownEventTimers.has(this)) return;
    ownEventTimers.set(this, setTimeout(() => {
      ownEventTimers.delete(this);
      if (this.state !== "live" || !this.pending.length) return;
      const first = Math.min(...this.pending.map(frameSeq));
      if (first > this.cursor + 1) this.startCatchUp(first - 1);
      else this.writeQueuedInOrder();
    }, OWN_EVENT_WAIT_MS));
  }

  private stopOwnEventTimer(): void {
    const timer = ownEventTimers.get(this);
    if (!timer) return;
    clearTimeout(timer);
    ownEventTimers.delete(this);
  }

  private queue(frame: string): void {
    if (this.pending === NO_FRAMES) this.pending = [];
    // (events waiting for a catch-up or a stream check: past a replay window's worth, the client
    // resumes from its cursor instead — nothing is skipped, and the replica holds no more of them)
    if (this.pending.length >= MAX_QUEUED_EVENTS) {
      slowConsumerCloses.inc();
      this.close(1013, "too many events waiting: resume from your cursor");
      this.state = "closed";
      this.pending = NO_FRAMES;
      return;
    }
    this.pending.push(frame);
  }

  /** Writes log entries up to `upTo`, then whatever queued meanwhile, then goes live. */
  async catchUp(upTo: number): Promise<void> {
    if (upTo > this.cursor) {
      const frames = await this.hub.deps.events.range(this.userId, this.cursor, upTo);
      this.ws?.cork(() => {
        for (const f of frames) {
          const seq = frameSeq(f);
          if (seq === this.cursor + 1) this.writeEvent(f, seq);
        }
      });
      if (this.cursor < upTo && this.state !== "closed") {
        // The log no longer has what we missed: say so rather than skip it.
        const head = await this.hub.deps.events.head(this.userId);
        this.resync("expired", head.seq, head.epoch);
      }
    }
    this.flushPending();
  }

  private flushPending(): void {
    if (this.state === "closed") return;
    const gapAt = this.writeQueuedInOrder();
    if (gapAt) {
      void this.catchUp(gapAt - 1).catch((err) => this.fail("catch-up failed", err));
      return;
    }
    if (this.state === "replaying") this.state = "live";
  }

  /**
   * Writes the queued frames that follow the cursor, in seq order, and keeps the rest queued.
   * Returns the highest seq still waiting behind a gap (0 when none is).
   */
  private writeQueuedInOrder(): number {
    const queued = this.pending.sort((a, b) => frameSeq(a) - frameSeq(b));
    this.pending = NO_FRAMES;
    let gapAt = 0;
    this.ws?.cork(() => {
      for (const f of queued) {
        const seq = frameSeq(f);
        if (seq <= this.cursor) continue;
        if (seq === this.cursor + 1) this.writeEvent(f, seq);
        else {
          gapAt = seq;
          this.queue(f);
        }
      }
    });
    if (!this.pending.length) this.stopOwnEventTimer();
    return gapAt;
  }

  private resync(reason: string, cursor: number, epoch: string): void {
    // whatever waited here is at or below the new cursor, or of the stream that was lost
    this.pending = NO_FRAMES;
    this.stopOwnEventTimer();
    this.cursor = cursor;
    this.epoch = epoch;
    this.sendControl(frame.resync(reason, cursor, epoch), "resync");
    resumeOutcomes.inc({ outcome: "resync" });
  }

  /**
   * Redis came back: live events wait here until this socket's stream is checked. Written meanwhile
   * they could be of the new epoch while the head the check is given was read before them: the
   * resync then named a cursor below what the socket had written, and the gap after it brought
   * those events again (the same seqs twice on one connection).
   */
  holdForStreamCheck(): void {
    if (this.state !== "live") return;
    this.state = "replaying";
    this.heldForCheck = true;
  }

  /** After Redis came back: given the member's stream head now, find out whether it survived, and catch up. */
  async recoverAfterRedisReconnect(given: StreamHead): Promise<void> {
    const held = this.heldForCheck;
    this.heldForCheck = false;
    if (this.state !== "live" && !held) return;
    // The head was read for all of the member's sockets, maybe a while ago: live events may have
    // moved this cursor past it since. Behind the cursor in the same epoch is asked again before it
    // counts as a loss (a Redis that kept its data, but not its last writes, has such a head).
    // Live events can overtake that answer too (they come on the subscriber's connection), so it
    // is held against the cursor as it was when asked: the stream then had at least that much.
    const asked = this.cursor;
    const head = given.seq < asked && given.epoch === this.epoch ? await this.hub.deps.events.head(this.userId) : given;
    // (held, nothing else moves this socket but a close)
    if (held ? this.state === "closed" : this.state !== "live") return;
    // (every stream has its epoch from the welcome on, so a different one means Redis lost it)
    const lost = head.seq < asked || head.epoch !== this.epoch;
    if (lost) {
      const waiting = held ? this.pending : NO_FRAMES;
      this.resync("epoch_changed", head.seq, head.epoch);
      // what came while held and is past the new cursor is the new stream's: written once, in order
      if (held) {
        this.pending = waiting;
        this.flushPending();
      }
      return;
    }
    if (head.seq > this.cursor) {
      this.state = "replaying";
      await this.catchUp(head.seq);
    } else if (held) this.flushPending();
  }

  private checkStreamStart(): void {
    if (checkingStream.has(this)) return;
    checkingStream.add(this);
    void this.hub.deps.events
      .head(this.userId)
      .then((head) => this.recoverAfterRedisReconnect(head))
      .catch((err: unknown) => this.fail("stream check failed", err))
      .finally(() => checkingStream.delete(this));
  }

  private fail(what: string, err: unknown): void {
    log.warn(what, { connId: this.connId, error: (err as Error).message });
    this.close(1011, "internal error");
  }

  // ---- reading -----------------------------------------------------------------------------

  received(message: string | Buffer): void {
    rates.in++;
    // Every frame, binary ones included, spends a token: an answered frame is never free.
    if (!this.allowFrame()) return;
    if (typeof message !== "string") {
      this.sendControl(frame.error("bad_json", "text frames only"), "error");
      return;
    }
    if (isOverBytes(message, this.hub.deps.config.chat.maxFrameBytes)) {
      framesIn.inc("oversized");
      this.sendControl(frame.error("frame_too_large", `frames are limited to ${this.hub.deps.config.chat.maxFrameBytes} bytes`), "error");
      return;
    }
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(message);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      msg = parsed as Record<string, unknown>;
    } catch {
      framesIn.inc("bad_json");
      this.sendControl(frame.error("bad_json", "a frame must be a JSON object"), "error");
      return;
    }
    const type = typeof msg.type === "string" ? msg.type : "";
    framesIn.inc(KNOWN_TYPES.has(type) ? type : "unknown");
    if (type !== "hello" && this.state === "awaiting_hello") {
      this.sendControl(frame.error("hello_required", "send hello first", type.slice(0, 40) || null), "error");
      return;
    }
    switch (type) {
      case "hello":
        return void this.hello(msg).catch((err) => this.fail("hello failed", err));
      case "ack":
        return this.ack(msg);
      case "send":
        return this.send(msg, message.length);
      case "read":
        return void this.read(msg);
      case "typing":
        return void this.typing(msg);
      case "presence":
        return void this.presenceQuery(msg);
      case "ping":
        return this.sendControl(frame.pong(msg.ts), "pong");
      default:
        this.sendControl(frame.error("unknown_type", `unknown frame type "${type.slice(0, 40)}"`, type.slice(0, 40) || null), "error");
    }
  }

  /** Token bucket; a flood is dropped with one error a second, and closed if it keeps on. */
  private allowFrame(): boolean {
    const c = this.hub.deps.config.chat;
    if (takeTokens(this, c.ratePerSecond, c.rateBurst)) return true;
    const now = Date.now();
    if (now - this.lastRateError >= 1000) {
      this.lastRateError = now;
      this.droppedThisSecond = 0;
      this.sendControl(frame.error("rate_limited", "too many frames; slow down"), "error");
    }
    this.droppedThisSecond++;
    framesRateLimited.inc();
    if (this.droppedThisSecond > this.hub.deps.config.chat.rateBurst * 50) this.close(1008, "rate limit");
    return false;
  }

  private async hello(msg: Record<string, unknown>): Promise<void> {
    if (this.state !== "awaiting_hello") {
      this.sendControl(frame.error("hello_twice", "hello was already received", "hello"), "error");
      return;
    }
    if (typeof msg.clientId !== "string" || !CLIENT_ID.test(msg.clientId)) {
      this.sendControl(frame.error("invalid", "clientId must be 8-64 characters of A-Z a-z 0-9 _ -", "hello"), "error");
      return;
    }
    const resume = parseResume(msg.resume);
    if (resume === "invalid") {
      // a cursor read back as "3" or 1.5 must not be taken for "no cursor": the events after it would be skipped
      this.sendControl(frame.error("invalid", "resume must be {cursor: a non-negative integer, epoch?: string}", "hello"), "error");
      return;
    }
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.clientId = msg.clientId;
    this.state = "replaying";
    // Subscribe before reading the log, so nothing published in between can fall through.
    await this.hub.attach(this);
    if (this.isClosed()) return;

    const { events, config } = this.hub.deps;
    let after: number | null = null;
    let epoch: string | null = null;
    if (resume) {
      after = resume.cursor;
      epoch = parseResumeEpoch(resume.epoch);
    } else {
      // (the stored ack's epoch, when it has one, is checked like a resuming client's)
      const stored = await events.loadAck(this.userId, this.clientId);
      after = stored?.seq ?? null;
      epoch = stored?.epoch ?? null;
    }

    const welcome = (cursor: number, ep: string) =>
      frame.welcome({
        connId: this.connId,
        userId: this.userId,
        cursor,
        epoch: ep,
        replica: config.chat.replicaName,
        heartbeatSeconds: config.chat.pingIntervalSeconds,
        limits: {
          maxFrameBytes: config.chat.maxFrameBytes,
          maxBodyChars: config.chat.maxBodyChars,
          ratePerSecond: config.chat.ratePerSecond,
          rateBurst: config.chat.rateBurst,
        },
      });

    if (after === null) {
      const head = await events.head(this.userId);
      this.cursor = head.seq;
      this.epoch = head.epoch;
      this.sendControl(welcome(head.seq, head.epoch), "welcome");
      resumeOutcomes.inc({ outcome: "fresh" });
    } else {
      const result = await events.replayAfter(this.userId, after, epoch);
      if (this.isClosed()) return;
      this.epoch = result.head.epoch;
      if (result.ok) {
        this.cursor = after;
        this.sendControl(welcome(after, result.head.epoch), "welcome");
        this.ws?.cork(() => {
          for (const f of result.frames) {
            const seq = frameSeq(f);
            if (seq === this.cursor + 1) this.writeEvent(f, seq);
          }
        });
        resumeOutcomes.inc({ outcome: result.frames.length ? "replayed" : "current" });
      } else {
        this.sendControl(welcome(result.head.seq, result.head.epoch), "welcome");
        this.resync(result.reason, result.head.seq, result.head.epoch);
      }
    }
    if (this.isClosed()) return;
    this.flushPending();
    this.sendControl(frame.synced(this.cursor), "synced");
  }

  private ack(msg: Record<string, unknown>): void {
    const seq = msg.seq;
    if (!Number.isSafeInteger(seq) || (seq as number) < 0) {
      this.sendControl(frame.error("invalid", "ack needs an integer seq", "ack"), "error");
      return;
    }
    // An ack beyond what this socket was sent cannot be true; clamp it. (The hub's buffer keeps
    // the highest per client and writes them all once a second.)
    const acked = Math.min(seq as number, this.cursor);
    if (acked > 0 && this.clientId) this.hub.acks.note(this.userId, this.clientId, acked, this.epoch);
  }

  /**
   * Sends are handled one at a time per socket, so one client's messages keep their order. The
   * frames waiting their turn are bounded (CHAT_MAX_QUEUED_SEND_BYTES; one is always taken): past
   * that a send is refused with `busy` (retry it later, with the same id), not queued without end.
   */
  private send(msg: Record<string, unknown>, bytes: number): void {
    const ref = typeof msg.id === "string" ? msg.id.slice(0, 64) : "send";
    if (this.queuedSendBytes > 0 && this.queuedSendBytes + bytes > this.hub.deps.config.chat.maxQueuedSendBytes) {
      sendsRefused.inc("busy");
      this.sendControl(frame.error("busy", "too many sends are waiting for their answer; resend this one later", ref), "error");
      return;
    }
    if (!this.hub.allowSend(this.userId)) {
      sendsRefused.inc("member_rate");
      this.sendControl(frame.error("rate_limited", "this member sends too fast from several sockets; resend this one later", ref), "error");
      return;
    }
    this.queuedSendBytes += bytes;
    const queuedAt = performance.now();
    this.sendChain = (this.sendChain ?? Promise.resolve()).then(async () => {
      try {
        // The socket closed meanwhile (its session revoked, the client gone): nobody hears the
        // answer, and the client resends what it did not hear about. A member deleting their
        // account closes their sockets first: what they queued must not be written after.
        if (this.isClosed()) return;
        // A send that failed for an outage fails those queued behind it at once: each would wait
        // its own deadline in turn (k sends, k × 5 s); the client resends them, in order, shortly.
        if (queuedAt < this.sendFailedAt) throw new AppError(503, "unavailable", "messages cannot be stored right now; resend later with the same id");
        const input = parseSendInput(msg, this.hub.deps.config.chat.maxBodyChars);
        const { answer, duplicate, ownEvent } = await sendMessage(this.hub.deps.messaging, this.userId, input);
        if (duplicate) sendDedupHits.inc();
        this.answerSend(JSON.stringify({ type: "sent", ...answer }), answer.seq, ownEvent);
        if (!ownEvent && answer.seq > this.cursor) await this.hub.deliverOwnEventFromLog(this.userId, answer.seq);
      } catch (err) {
        if ((err instanceof AppError && err.code === "unavailable") || (err instanceof Error && isDependencyUnavailable(err))) {
          this.sendFailedAt = performance.now();
        }
        this.replyError(err, ref);
      } finally {
        this.queuedSendBytes -= bytes;
      }
    });
  }

  /**
   * The `sent` answer, and the sender's own event to each of the sender's sockets here: it is
   * published only for sockets on other replicas (a copy that comes back from pub/sub anyway is
   * dropped by seq). When it is this socket's next event it goes out in the same write as `sent`:
   * one syscall and one wake-up instead of two.
   */
  private answerSend(sent: string, seq: number, ownEvent: string | undefined): void {
    if (ownEvent) this.hub.deliverToOtherSockets(this, ownEvent);
    const ws = this.ws;
    if (ownEvent && ws && this.state === "live" && seq === this.cursor + 1) {
      ws.cork(() => {
        this.sendControl(sent, "sent");
        this.writeEvent(ownEvent, seq);
      });
      return;
    }
    this.sendControl(sent, "sent");
    if (ownEvent) this.deliverOwnEvent(ownEvent);
  }

  private replyError(err: unknown, ref: string): void {
    if (err instanceof AppError) {
      this.sendControl(frame.error(err.code === "bad_request" ? "invalid" : err.code, err.message, ref), "error");
      return;
    }
    if (err instanceof Error && isDependencyUnavailable(err)) {
      // Redis or Postgres away or full: what clients resend, as the HTTP 503; one log line per
      // interval for the replica, not one per refused frame (10,000 lines in 15 s were seen)
      noteUnavailable(err);
      this.sendControl(frame.error("unavailable", "the service is briefly unavailable; resend shortly", ref), "error");
      return;
    }
    log.error("frame failed", { connId: this.connId, error: (err as Error).message });
    this.sendControl(frame.error("internal", "the server failed; retry", ref), "error");
  }

  private async read(msg: Record<string, unknown>): Promise<void> {
    try {
      const conversationId = parseId(msg.conversationId, "conversationId");
      const upTo = parseId(msg.upToMessageId, "upToMessageId");
      await markRead(this.hub.deps.messaging, this.userId, conversationId, upTo);
    } catch (err) {
      this.replyError(err, "read");
    }
  }

  private async typing(msg: Record<string, unknown>): Promise<void> {
    try {
      const conversationId = parseId(msg.conversationId, "conversationId");
      this.typingThrottle ??= new TypingThrottle();
      if (!this.typingThrottle.allow(conversationId) || !this.hub.allowTyping(this.userId, conversationId)) return;
      // The same cached membership the send path uses: no query per typing frame.
      const conv = await conversationInfo(this.hub.deps.messaging, conversationId, this.userId);
      if (!conv) {
        this.typingThrottle.forget(conversationId);
        throw notMember();
      }
      // Typing is shown where presence is: to the typist's audience (no block, and they engaged).
      const others = await this.hub.presenceLists.audienceAmong(this.userId, conv.members.filter((m) => m !== this.userId));
      if (others.length) await this.hub.deps.events.publishEphemeral(others, frame.typing(conversationId, this.userId));
    } catch (err) {
      this.replyError(err, "typing");
    }
  }

  private async presenceQuery(msg: Record<string, unknown>): Promise<void> {
    try {
      const ids = Array.isArray(msg.userIds) ? msg.userIds.slice(0, 201) : null;
      if (!ids || ids.length > 200) throw new AppError(400, "invalid", "userIds must be an array of at most 200 ids");
      // Each member answered once per query, however often the query names them.
      const wanted = new Set(ids.map((id) => parseId(id, "userIds[]")));
      const visible = await this.hub.presenceLists.visibleAmong(this.userId, [...wanted]);
      const flags = await this.hub.deps.presence.online(visible);
      // Ephemeral answers: dropped, like typing, while the socket is backed up.
      if (this.backedUp()) return;
      visible.forEach((id, i) => this.sendControl(frame.presence(id, flags[i]!), "presence"));
    } catch (err) {
      this.replyError(err, "presence");
    }
  }
}

/**
 * Whether a text frame is over `max` bytes as it came (UTF-8): a character takes up to 3 bytes, so the
 * string's length alone let a frame of 60,000 "€" (180 KB) pass as 60,000. Bytes are counted only
 * when the length cannot decide.
 */
function isOverBytes(message: string, max: number): boolean {
  return message.length > max || (message.length * 3 > max && Buffer.byteLength(message, "utf8") > max);
}

/** Frames refused because a dependency was unavailable, logged once per interval with their count. */
const UNAVAILABLE_LOG_MS = 10_000;
let unavailableSince = 0;
let unavailableCount = 0;
function noteUnavailable(err: Error): void {
  unavailableCount++;
  const now = Date.now();
  if (now - unavailableSince < UNAVAILABLE_LOG_MS) return;
  log.warn("frames refused: a dependency is unavailable", { frames: unavailableCount, error: err.message });
  unavailableSince = now;
  unavailableCount = 0;
}

/**
 * The wait of each socket holding an own event ahead of its cursor (few at a time: kept here
 * rather than as a field of every idle socket).
 */
const ownEventTimers = new Map<Connection, Timer>();

/** Sockets reading their member's stream head after a seq 1 behind their cursor (rare: kept off every socket). */
const checkingStream = new Set<Connection>();

/** Shared empty queue (never pushed to: `queue()` swaps in a real array first). */
const NO_FRAMES: string[] = [];
/** Live events one socket keeps waiting behind a catch-up or a stream check. */
const MAX_QUEUED_EVENTS = 2000;

const KNOWN_TYPES = new Set(["hello", "ack", "send", "read", "typing", "presence", "ping"]);
