/**
 * The per-member event stream: every event a member must not miss (a message, a read receipt, a
 * conversation change, a notification) gets the member's next `seq`, is kept in a bounded Redis
 * log for replay, and is published on the member's channel for live delivery. One Lua script does
 * all three atomically, so publication order is seq order and a published event is always
 * replayable. Pub/sub is only the fast path; the log (and Postgres behind it) is the truth.
 */
import { DEFAULT_REPLAY_MAX_BYTES } from "../../config/index.ts";
import { redisRunId, type Redis, type RedisKeys } from "../../redis/index.ts";
import { APPEND_MANY_SCRIPT } from "./append-many.lua.ts";
import { APPEND_ONCE_SCRIPT } from "./append-once.lua.ts";
import { APPEND_SCRIPT } from "./append.lua.ts";

export type EventKind = "message" | "read" | "conversation" | "notification" | "notifications_read";

export interface AppendRequest {
  userId: string;
  kind: EventKind;
  data: unknown;
}

export interface Appended {
  userId: string;
  seq: number;
  /** the member had an open client (exact presence) when the event was appended */
  online: boolean;
}

/** A key that makes an append happen at most once, holding a value that embeds one member's seq. */
export interface AppendGuard {
  key: string;
  ttlSeconds: number;
  /** index into the requests of the member whose seq goes into the value */
  seqOf: number;
  /** the value stored is `head + seq + tail` */
  head: string;
  tail: string;
  /** a value the key may hold that does not count: it is overwritten as if the key were absent */
  placeholder?: string;
  /**
   * The chat replica asking, which writes the guarded member's event to every socket of theirs it
   * holds: the event is then published on their channel only when presence shows another replica
   * holding one of their sockets. Absent: always published.
   */
  localReplica?: string;
}

export type GuardedAppend =
  /** `frame`: the event as the guarded member's stream got it (for the socket that asked, to write at once) */
  | { ok: true; appended: Appended[]; frame: string }
  | { ok: false; existing: string };

export interface StreamHead {
  seq: number;
  epoch: string;
}

export type ReplayResult =
  | { ok: true; frames: string[]; head: StreamHead }
  | { ok: false; reason: "epoch_changed" | "cursor_ahead" | "window_exceeded" | "expired"; head: StreamHead };

/** A client's cumulative ack: it has every event of the member's stream (of `epoch`) up to `seq`. */
export interface StoredAck {
  userId: string;
  clientId: string;
  seq: number;
  /** the stream the seq counts in: an ack of a stream Redis has since lost is never stored */
  epoch: string;
}

/** A stored ack as a resuming client without a cursor is given it; `epoch` null for one stored before epochs were. */
export interface LoadedAck {
  seq: number;
  epoch: string | null;
}

export interface EventStreamOptions {
  redis: Redis;
  keys: RedisKeys;
  /** Events kept per member for replay. */
  maxEvents: number;
  /** Events older than this are not replayed (the client is told to resync). */
  maxAgeSeconds: number;
  /** Bytes of frames kept per member for replay (DEFAULT_REPLAY_MAX_BYTES if absent). */
  maxBytes?: number;
}

/** The frame text a client receives: `{"type":"event","seq":N,"ts":…,"kind":…,"data":…}`. */
export function eventFrameTail(kind: EventKind, data: unknown, ts = Date.now()): string {
  return `"ts":${ts},"kind":${JSON.stringify(kind)},"data":${JSON.stringify(data)}}`;
}

/** Reads `seq` from a frame without parsing the rest (frames always start with it). */
export function frameSeq(frame: string): number {
  const start = frame.indexOf('"seq":');
  if (start < 0) return 0;
  let n = 0;
  for (let i = start + 6; i < frame.length; i++) {
    const c = frame.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * ARGV: TTL seconds, the streams' generation key, then (acks hash key, clientId, seq, epoch, the
 * member's epoch key) per ack; an ack's epoch is the member's epoch and the generation (`head`).
 * An ack of another epoch than the stream's current one is dropped: it counts in a stream Redis
 * lost (a replica's buffered ack, written after a restart), and a client resuming from it would
 * silently skip the new stream's events. Within one epoch a stored ack only moves forward; it is
 * kept as `seq:epoch` (a bare number was written before epochs were, and is replaced).
 * A member keeps acks of at most MAX_ACKED_CLIENTS clients: a new one beyond that replaces a random
 * other (a member minting client ids by the thousand cannot grow the hash; a real client whose ack
 * went resumes from its own cursor, or resyncs without one).
 */
const MAX_ACKED_CLIENTS = 100;
const STORE_ACKS_SCRIPT = `
local max_clients = ${MAX_ACKED_CLIENTS}
local generation = redis.call('GET', ARGV[2]) or ''
for i = 3, #ARGV, 5 do
  local hash, client, seq, epoch = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  if (redis.call('GET', ARGV[i + 4]) or '') .. '.' .. generation == epoch then
    local stored = redis.call('HGET', hash, client)
    local cur, cur_epoch = 0, nil
    if stored then
      local colon = string.find(stored, ':', 1, true)
      if colon then
        cur, cur_epoch = tonumber(string.sub(stored, 1, colon - 1)) or 0, string.sub(stored, colon + 1)
      end
    end
    if cur_epoch ~= epoch or seq > cur then
      redis.call('HSET', hash, client, seq .. ':' .. epoch)
      if not stored and redis.call('HLEN', hash) > max_clients then
        local two = redis.call('HRANDFIELD', hash, 2)
        redis.call('HDEL', hash, two[1] == client and two[2] or two[1])
      end
    end
    redis.call('EXPIRE', hash, ARGV[1])
  end
end
return 1
`;
/** KEYS: generation, its run. ARGV: this Redis run's id, a new generation. A new run gets a new generation, once. */
const FOLLOW_RUN_SCRIPT = `
if redis.call('GET', KEYS[2]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return 1
`;

/** Acks per store script call. */
const ACK_CHUNK = 500;

/** Members per append script call: bounds the time one call holds Redis. */
const APPEND_CHUNK = 500;

function newEpoch(): string {
  return crypto.randomUUID().slice(0, 8);
}

/**
 * The epoch a resuming client names (frame or query), or null for none. An over-long one is cut
 * short, not ignored: it cannot match, so the client resyncs instead of having a cursor of some
 * other epoch replayed against this one.
 */
export function parseResumeEpoch(raw: unknown): string | null {
  return typeof raw === "string" && raw !== "" ? raw.slice(0, 65) : null;
}

export function createEventStream(opts: EventStreamOptions) {
  const { redis, keys, maxEvents, maxAgeSeconds } = opts;
  const maxBytes = opts.maxBytes ?? DEFAULT_REPLAY_MAX_BYTES;
  redis.defineCommand("xpAppendEvent", { numberOfKeys: 4, lua: APPEND_SCRIPT });
  redis.defineCommand("xpAppendEvents", { numberOfKeys: 0, lua: APPEND_MANY_SCRIPT });
  redis.defineCommand("xpAppendOnceMany", { numberOfKeys: 0, lua: APPEND_ONCE_SCRIPT });
  redis.defineCommand("xpStoreAcks", { numberOfKeys: 0, lua: STORE_ACKS_SCRIPT });
  redis.defineCommand("xpFollowRun", { numberOfKeys: 2, lua: FOLLOW_RUN_SCRIPT });
  type Reply = [number, number];
  type WithAppend = {
    xpAppendEvent(...args: (string | number)[]): Promise<Reply>;
    xpAppendEvents(...args: (string | number)[]): Promise<(number | string)[]>;
    xpAppendOnceMany(...args: (string | number)[]): Promise<(number | string)[][]>;
    xpStoreAcks(...args: (string | number)[]): Promise<number>;
    xpFollowRun(...args: (string | number)[]): Promise<number>;
  };

  function args(req: AppendRequest, ts: number): (string | number)[] {
    return [
      keys.memberSeq(req.userId),
      keys.memberEpoch(req.userId),
      keys.memberLog(req.userId),
      keys.online(req.userId),
      keys.memberChannel(req.userId),
      eventFrameTail(req.kind, req.data, ts),
      maxEvents,
      maxAgeSeconds,
      newEpoch(),
      maxBytes,
    ];
  }

  /**
   * Pushes the members' part of a bulk script's arguments, as `append_members` reads it, onto
   * `argv`. Consecutive requests with the same data (a message to every participant) share one
   * serialised frame tail. Returns the frame tail of request `tailOf` ('' for none).
   */
  function pushMembers(argv: (string | number)[], reqs: readonly AppendRequest[], ts: number, tailOf = -1): string {
    argv.push(maxEvents, maxAgeSeconds, maxBytes, reqs.length);
    let tail = "";
    let wanted = "";
    let tailFor: AppendRequest | null = null;
    reqs.forEach((req, i) => {
      if (!tailFor || req.data !== tailFor.data || req.kind !== tailFor.kind) {
        tailFor = req;
        tail = eventFrameTail(req.kind, req.data, ts);
      }
      if (i === tailOf) wanted = tail;
      argv.push(keys.memberSeq(req.userId), keys.memberEpoch(req.userId), keys.memberLog(req.userId), keys.online(req.userId), keys.memberChannel(req.userId), tail, newEpoch());
    });
    return wanted;
  }

  /** Appended entries from a script's flat `seq, online, …` reply, starting at `from`. */
  function appendedFrom(reqs: readonly AppendRequest[], flat: readonly (number | string)[], from = 0): Appended[] {
    return reqs.map((req, i) => ({ userId: req.userId, seq: Number(flat[from + i * 2]), online: Number(flat[from + i * 2 + 1]) === 1 }));
  }

  async function append(req: AppendRequest): Promise<Appended> {
    const [seq, online] = await (redis as unknown as WithAppend).xpAppendEvent(...args(req, Date.now()));
    return { userId: req.userId, seq: Number(seq), online: online === 1 };
  }

  /**
   * Many appends in one command (a message to every participant, a notification batch): chunks of
   * APPEND_CHUNK members per script call, all calls in one pipeline.
   */
  async function appendMany(reqs: readonly AppendRequest[]): Promise<Appended[]> {
    if (reqs.length === 0) return [];
    if (reqs.length === 1) return [await append(reqs[0]!)];
    const ts = Date.now();
    const pipeline = redis.pipeline() as unknown as WithAppend & { exec(): Promise<[Error | null, (number | string)[]][]> };
    const chunks: AppendRequest[][] = [];
    for (let start = 0; start < reqs.length; start += APPEND_CHUNK) {
      const chunk = reqs.slice(start, start + APPEND_CHUNK);
      chunks.push(chunk);
      const argv: (string | number)[] = [];
      pushMembers(argv, chunk, ts);
      pipeline.xpAppendEvents(...argv);
    }
    const out: Appended[] = [];
    (await pipeline.exec()).forEach(([err, flat], c) => {
      if (err) throw err;
      out.push(...appendedFrom(chunks[c]!, flat));
    });
    return out;
  }

  type OnceItem = { reqs: readonly AppendRequest[]; guard: AppendGuard; resolve: (r: GuardedAppend) => void; reject: (e: unknown) => void };
  /** Guarded appends asked for in the same tick, sent together when the tick's work is done. */
  let onceQueue: OnceItem[] = [];

  function flushOnceQueue(): void {
    const batch = onceQueue;
    onceQueue = [];
    // One call holds Redis for all of its members: a large batch is cut into several calls.
    let from = 0;
    let members = 0;
    batch.forEach((item, i) => {
      if (i > from && members + item.reqs.length > APPEND_CHUNK) {
        sendOnceCall(batch.slice(from, i));
        from = i;
        members = 0;
      }
      members += item.reqs.length;
    });
    sendOnceCall(from === 0 ? batch : batch.slice(from));
  }

  function sendOnceCall(items: OnceItem[]): void {
    const ts = Date.now();
    const argv: (string | number)[] = [items.length];
    const frames = items.map(({ reqs, guard: g }) => {
      const local = g.localReplica ? [g.localReplica, keys.presence(reqs[g.seqOf]!.userId)] : ["", ""];
      argv.push(g.key, g.ttlSeconds, g.seqOf + 1, g.head, g.tail, g.placeholder ?? "", ...local);
      return pushMembers(argv, reqs, ts, g.seqOf);
    });
    const settle = (item: OnceItem, flat: (number | string)[] | undefined, tail: string): void => {
      const status = Number(flat?.[0]);
      if (!flat || (status !== 0 && status !== 1)) return item.reject(new Error(`guarded append failed: ${String(flat?.[1])}`));
      if (status === 0) return item.resolve({ ok: false, existing: String(flat[1]) });
      const appended = appendedFrom(item.reqs, flat, 1);
      const seq = appended[item.guard.seqOf]!.seq;
      // the frame exactly as the script built it for the log and the channel
      item.resolve({ ok: true, appended, frame: `{"type":"event","seq":${seq},${tail}` });
    };
    (redis as unknown as WithAppend).xpAppendOnceMany(...argv).then(
      (results) =>
        items.forEach((item, k) => {
          // a reply of an unexpected shape fails its sends; it must never leave one waiting
          try {
            settle(item, results[k], frames[k]!);
          } catch (err) {
            item.reject(err);
          }
        }),
      (err: unknown) => items.forEach((item) => item.reject(err)),
    );
  }

  /**
   * Appends to every member's stream unless `guard.key` holds a value (other than
   * `guard.placeholder`), and sets it, in one script: a message's events and the answer its
   * repeats get, with no window between them. Calls made in the same tick (the sends of one
   * Postgres batch) share one Redis command.
   */
  function appendOnce(reqs: readonly AppendRequest[], guard: AppendGuard): Promise<GuardedAppend> {
    return new Promise((resolve, reject) => {
      // (the sends of one Postgres batch resume in one run of microtasks, so they meet here)
      if (onceQueue.length === 0) queueMicrotask(flushOnceQueue);
      onceQueue.push({ reqs, guard, resolve, reject });
    });
  }

  /** Typing and presence: live only, no seq, never replayed. */
  async function publishEphemeral(userIds: readonly string[], frame: string): Promise<void> {
    if (userIds.length === 0) return;
    const p = redis.pipeline();
    for (const id of userIds) p.publish(keys.memberChannel(id), frame);
    await p.exec();
  }

  /**
   * The stream's head. Its epoch is the member's own and the streams' generation: a client is told
   * it with every cursor, and a cursor of another epoch is never replayed.
   */
  async function head(userId: string): Promise<StreamHead> {
    const [seq, epoch, generation] = await redis.mget(keys.memberSeq(userId), keys.memberEpoch(userId), keys.streamGeneration());
    if (epoch === null || epoch === undefined) {
      // A stream gets its epoch before anyone is told a cursor in it (even an empty one), so a
      // client never holds an epoch-less cursor that a Redis data loss could silently reuse; an
      // epoch that alone went missing is replaced, which tells every client to resync.
      await redis.set(keys.memberEpoch(userId), newEpoch(), "NX");
      return head(userId);
    }
    if (generation === null || generation === undefined) {
      await redis.set(keys.streamGeneration(), newEpoch(), "NX");
      return head(userId);
    }
    return { seq: Number(seq ?? 0), epoch: `${epoch}.${generation}` };
  }

  /**
   * A restarted Redis may come back with older data (a snapshot, an AOF a second behind, a lagging
   * replica promoted): its counters then number new events with seqs clients already hold, under the
   * same member epochs, and a client resuming past them would skip them silently. Each Redis run
   * gets its own generation, part of every epoch: after a restart every client resyncs once. Checked
   * whenever this connection is ready (first and after every reconnect), by every process.
   */
  async function followRedisRuns(): Promise<void> {
    const run = await redisRunId(redis);
    if (run) await (redis as unknown as WithAppend).xpFollowRun(keys.streamGeneration(), keys.streamGenerationRun(), run, newEpoch());
  }
  redis.on("ready", () => void followRedisRuns().catch(() => {}));
  if (redis.status === "ready") void followRedisRuns().catch(() => {});

  /**
   * Frames with seq > `after`, or the reason the client must resync instead. A gap (the log was
   * trimmed past the cursor), an epoch change (Redis lost the stream) or too old an event all
   * refuse rather than replay partially: a partial replay would be a silent loss. A cursor past 0
   * that names no epoch cannot be told from one of a stream Redis has lost: it resyncs too.
   */
  async function replayAfter(userId: string, after: number, epoch: string | null): Promise<ReplayResult> {
    const h = await head(userId);
    if (epoch !== h.epoch && (epoch || after > 0)) return { ok: false, reason: "epoch_changed", head: h };
    if (after > h.seq) return { ok: false, reason: "cursor_ahead", head: h };
    if (after === h.seq) return { ok: true, frames: [], head: h };
    if (h.seq - after > maxEvents) return { ok: false, reason: "window_exceeded", head: h };
    const entries = (await redis.xrange(keys.memberLog(userId), `${after + 1}-0`, "+", "COUNT", maxEvents + 1)) as [string, string[]][];
    const frames = entries.map(([, fields]) => fields[1]!);
    const first = frames[0];
    if (!first || frameSeq(first) !== after + 1) return { ok: false, reason: "expired", head: h };
    const oldestTs = Number(/"ts":(\d+)/.exec(first)?.[1] ?? 0);
    if (oldestTs && oldestTs < Date.now() - maxAgeSeconds * 1000) return { ok: false, reason: "expired", head: h };
    return { ok: true, frames, head: { seq: frameSeq(frames.at(-1)!), epoch: h.epoch } };
  }

  /** Frames in (from, to], used to fill a gap seen on the live path. */
  async function range(userId: string, from: number, to: number): Promise<string[]> {
    const entries = (await redis.xrange(keys.memberLog(userId), `${from + 1}-0`, `${to}-0`)) as [string, string[]][];
    return entries.map(([, fields]) => fields[1]!);
  }

  /** Cumulative acks, many in one command per chunk: each only ever moves forward. */
  async function storeAcks(acks: readonly StoredAck[]): Promise<void> {
    for (let start = 0; start < acks.length; start += ACK_CHUNK) {
      const argv: (string | number)[] = [maxAgeSeconds * 2, keys.streamGeneration()];
      for (const a of acks.slice(start, start + ACK_CHUNK)) argv.push(keys.memberAcks(a.userId), a.clientId, a.seq, a.epoch, keys.memberEpoch(a.userId));
      await (redis as unknown as WithAppend).xpStoreAcks(...argv);
    }
  }

  async function storeAck(userId: string, clientId: string, seq: number, epoch: string): Promise<void> {
    await storeAcks([{ userId, clientId, seq, epoch }]);
  }

  async function loadAck(userId: string, clientId: string): Promise<LoadedAck | null> {
    const v = await redis.hget(keys.memberAcks(userId), clientId);
    if (v === null) return null;
    const colon = v.indexOf(":");
    return colon < 0 ? { seq: Number(v), epoch: null } : { seq: Number(v.slice(0, colon)), epoch: v.slice(colon + 1) };
  }

  /** A deleted member's stream goes: counter, epoch, log and its byte count, acks. */
  async function forget(userId: string): Promise<void> {
    await redis.del(keys.memberSeq(userId), keys.memberEpoch(userId), keys.memberLog(userId), keys.memberLogBytes(userId), keys.memberAcks(userId));
  }

  return { append, appendMany, appendOnce, publishEphemeral, head, replayAfter, range, storeAck, storeAcks, loadAck, forget };
}

export type EventStream = ReturnType<typeof createEventStream>;
