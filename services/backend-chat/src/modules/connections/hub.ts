/**
 * This replica's sockets, grouped by member. A member's Redis channel is subscribed while the
 * replica holds at least one of their sockets, and unsubscribed when the last one closes; frames
 * from the channel are handed to each of the member's sockets, which keep their own cursor.
 */
import { createLogger } from "@xplicit/shared/log";
import { dropMembershipCache, membershipChannel } from "@xplicit/shared/modules/messages";
import { visibilityChannel, type PresenceChange, type VisibilityChange } from "@xplicit/shared/modules/presence";
import { sessionRevokedChannel, type SessionRevokedEvent } from "@xplicit/shared/sessions";
import type { ChatDeps } from "../../deps.ts";
import { AckBuffer } from "./acks.ts";
import type { Connection } from "./connection.ts";
import { frame } from "./frames.ts";
import { membersGauge, socketsGauge } from "./metrics.ts";
import { PresenceLists } from "./presence-lists.ts";
import { TypingThrottle } from "./typing.ts";
import { takeTokens, type BucketState } from "@xplicit/shared/limits";

const log = createLogger("hub");

/**
 * A member's sockets here. Most members have one: the socket itself stands for the group, and a
 * Set is made only for a second one (a Set per idle member was a tenth of a socket's footprint).
 */
type Group = Connection | Set<Connection>;

function* inGroup(group: Group): Iterable<Connection> {
  if (group instanceof Set) yield* group;
  else yield group;
}

export class Hub {
  /** every open socket, hello or not */
  readonly all = new Set<Connection>();
  /** member → sockets here still waiting for their hello (with the groups: the per-member limit) */
  private readonly awaitingHello = new Map<string, number>();
  /** member → sockets past hello */
  readonly members = new Map<string, Group>();
  /** every socket's acks, written together once a second */
  readonly acks: AckBuffer;
  private readonly channelPrefix: string;
  private readonly revokedChannel: string;
  private readonly visibilityChannel: string;
  private readonly membershipChannel: string;
  readonly presenceLists: PresenceLists;
  private subscriberReadyOnce = false;
  private repairing = false;
  private revalidating = false;
  /**
   * Send budgets of the members with more than one socket here (one socket is held to its own frame
   * budget already): kept only while they have several, so idle members cost nothing.
   */
  private readonly memberSends = new Map<string, BucketState>();
  /** Typing throttles of the members with more than one socket here, kept as the send budgets are. */
  private readonly memberTyping = new Map<string, TypingThrottle>();
  /** members whose channel SUBSCRIBE is still in flight */
  private readonly subscribing = new Map<string, Promise<unknown>>();
  private recovering: Promise<void> | null = null;
  /** draining: members whose last socket here closes stay online through this replica for a while (leaveSoon) */
  private leaving = false;
  /** the members held while draining, settled once their clients had time to come back elsewhere */
  private readonly lingering = new Set<string>();
  private recoverAgain = false;

  /** `maxSockets`: this replica's cap (socket-cap.ts); past it upgrades are refused */
  constructor(
    readonly deps: ChatDeps,
    readonly maxSockets = Number.MAX_SAFE_INTEGER,
  ) {
    this.channelPrefix = deps.keys.memberChannel("");
    this.revokedChannel = sessionRevokedChannel(deps.keys);
    this.visibilityChannel = visibilityChannel(deps.keys);
    this.membershipChannel = membershipChannel(deps.keys);
    this.acks = new AckBuffer(deps.events);
    this.presenceLists = new PresenceLists(deps.sql);
  }

  async start(): Promise<void> {
    const sub = this.deps.subscriber;
    sub.on("message", (channel: string, message: string) => this.onChannelMessage(channel, message));
    sub.on("ready", () => {
      if (this.subscriberReadyOnce) void this.recoverAfterRedisReconnect();
      this.subscriberReadyOnce = true;
    });
    await sub.subscribe(this.revokedChannel, this.visibilityChannel, this.membershipChannel);
    this.subscriberReadyOnce = true;
    this.acks.start();
  }

  /** An event of `conn`'s member that this replica writes itself, to the member's other sockets here. */
  deliverToOtherSockets(conn: Connection, text: string): void {
    const group = this.members.get(conn.userId);
    // (the sending socket may have closed meanwhile: the group is then the other socket alone)
    if (group) for (const other of inGroup(group)) if (other !== conn) other.deliverOwnEvent(text);
  }

  /**
   * A repeat answered without appending (its first attempt's reply was lost): that event was not
   * published if this replica was the member's only one, so its sockets here get it from the log.
   */
  async deliverOwnEventFromLog(userId: string, seq: number): Promise<void> {
    const group = this.members.get(userId);
    if (!group) return;
    const [own] = await this.deps.events.range(userId, seq - 1, seq);
    const now = this.members.get(userId);
    if (own && now) for (const conn of inGroup(now)) conn.deliverOwnEvent(own);
  }

  private onChannelMessage(channel: string, message: string): void {
    if (channel.startsWith(this.channelPrefix)) {
      const group = this.members.get(channel.slice(this.channelPrefix.length));
      if (!group) return;
      if (group instanceof Set) for (const conn of group) conn.deliverLive(message);
      else group.deliverLive(message);
      return;
    }
    if (channel === this.revokedChannel) this.onSessionsRevoked(message);
    else if (channel === this.visibilityChannel || channel === this.membershipChannel) this.onVisibilityChanged(message);
  }

  /** A block, an unblock, a first message or a leave: who may see these members' presence is read again on next use. */
  private onVisibilityChanged(message: string): void {
    try {
      this.presenceLists.forget(((JSON.parse(message) as Partial<VisibilityChange>).members ?? []).map(String));
    } catch {}
  }

  private onSessionsRevoked(message: string): void {
    let event: SessionRevokedEvent;
    try {
      event = JSON.parse(message) as SessionRevokedEvent;
    } catch {
      return;
    }
    const revoked = new Set(event.sessionIds);
    for (const conn of this.all) {
      if (conn.userId === event.userId && revoked.has(conn.sessionId)) conn.close(1008, "session revoked");
    }
  }

  track(conn: Connection): void {
    this.all.add(conn);
    this.countAwaiting(conn.userId, +1);
    socketsGauge.set(this.all.size);
  }

  private countAwaiting(userId: string, delta: number): void {
    const n = (this.awaitingHello.get(userId) ?? 0) + delta;
    if (n > 0) this.awaitingHello.set(userId, n);
    else this.awaitingHello.delete(userId);
  }

  /** Open sockets of a member here, hello or not (checked before an upgrade). */
  socketsOf(userId: string): number {
    const group = this.members.get(userId);
    const attached = !group ? 0 : group instanceof Set ? group.size : 1;
    return attached + (this.awaitingHello.get(userId) ?? 0);
  }

  /**
   * Called at hello, before the socket reads its log: joins the member's group; on the member's
   * first socket here, subscribes their channel and adds this replica to their presence. Both
   * must be in place before the log is read: what is appended later is then published to this
   * replica (a sender's replica publishes its own events only while presence shows another).
   */
  async attach(conn: Connection): Promise<void> {
    this.countAwaiting(conn.userId, -1);
    const group = this.members.get(conn.userId);
    const first = !group;
    if (!group) {
      this.members.set(conn.userId, conn);
      membersGauge.set(this.members.size);
    } else if (group instanceof Set) group.add(conn);
    else if (group !== conn) this.members.set(conn.userId, new Set([group, conn]));
    if (first) {
      const ready = Promise.all([
        this.deps.subscriber.subscribe(this.deps.keys.memberChannel(conn.userId)),
        this.deps.presence.connected(conn.userId, this.deps.config.chat.replicaName),
      ]);
      this.subscribing.set(conn.userId, ready);
      try {
        const [, change] = await ready;
        void this.presenceChanged(conn.userId, change, true);
      } finally {
        if (this.subscribing.get(conn.userId) === ready) this.subscribing.delete(conn.userId);
      }
    } else {
      // A second socket that reads its log before the first one's SUBSCRIBE and presence are in
      // place could miss what is appended in between, until a later event showed the gap.
      await this.subscribing.get(conn.userId);
    }
  }

  /** One more send from this member, within CHAT_MEMBER_SENDS_PER_SECOND over all their sockets here. */
  allowSend(userId: string): boolean {
    if (!(this.members.get(userId) instanceof Set)) return true;
    const rate = this.deps.config.chat.memberSendsPerSecond;
    const burst = 2 * rate;
    let budget = this.memberSends.get(userId);
    if (!budget) this.memberSends.set(userId, (budget = { tokens: burst, tokensAt: performance.now() }));
    return takeTokens(budget, rate, burst);
  }

  /** One more typing frame from this member to the conversation, within the throttle over all their sockets here. */
  allowTyping(userId: string, conversationId: string): boolean {
    if (!(this.members.get(userId) instanceof Set)) return true;
    let throttle = this.memberTyping.get(userId);
    if (!throttle) this.memberTyping.set(userId, (throttle = new TypingThrottle()));
    return throttle.allow(conversationId);
  }

  /**
   * The replica is about to close every socket and exit: its members are kept online through it for
   * `seconds` (the time their clients have to come back elsewhere), and closing no longer takes them off.
   */
  async leaveSoon(seconds: number): Promise<void> {
    this.leaving = true;
    for (const userId of this.members.keys()) this.lingering.add(userId);
    await this.deps.presence.holdExactly(this.deps.config.chat.replicaName, this.lingering, seconds);
  }

  /**
   * The drain's lingering time is up: this replica lets go of its members, and those not back on
   * another replica are offline now — their partners are told, as for any member who leaves.
   */
  async endLinger(): Promise<void> {
    const members = [...this.lingering];
    this.lingering.clear();
    const changes = await this.deps.presence.departed(this.deps.config.chat.replicaName, members);
    await Promise.all(changes.map((change, i) => this.presenceChanged(members[i]!, change, false)));
  }

  untrack(conn: Connection, attached: boolean): void {
    if (!this.all.delete(conn)) return;
    socketsGauge.set(this.all.size);
    if (!attached) return this.countAwaiting(conn.userId, -1);
    const group = this.members.get(conn.userId);
    if (!group) return;
    if (group instanceof Set) {
      group.delete(conn);
      if (group.size > 1) return;
      this.memberSends.delete(conn.userId);
      this.memberTyping.delete(conn.userId);
      if (group.size === 1) {
        this.members.set(conn.userId, group.values().next().value!);
        return;
      }
    } else if (group !== conn) return;
    this.members.delete(conn.userId);
    membersGauge.set(this.members.size);
    void this.deps.subscriber.unsubscribe(this.deps.keys.memberChannel(conn.userId)).catch(() => {});
    // (draining: the member lingers here until their client is back elsewhere, see drain)
    if (this.leaving) return void this.lingering.add(conn.userId);
    void this.deps.presence
      .disconnected(conn.userId, this.deps.config.chat.replicaName)
      .then((change) => this.presenceChanged(conn.userId, change, false))
      .catch((err: unknown) => log.debug("presence update failed", { error: (err as Error).message }));
  }

  /** After this replica's presence for a member changed: partners hear of a cluster-wide flip. */
  private async presenceChanged(userId: string, { wasOnline, isOnline }: PresenceChange, connected: boolean): Promise<void> {
    try {
      // The badge count is cached while the member is online: a fan-out to them then never has
      // to count in Postgres before their live event.
      if (connected) void this.deps.unread.get([userId]).catch(() => {});
      if (wasOnline === isOnline) return;
      const audience = await this.presenceLists.audienceOf(userId);
      await this.deps.events.publishEphemeral(audience, frame.presence(userId, isOnline));
    } catch (err) {
      log.debug("presence announcement failed", { error: (err as Error).message });
    }
  }

  /** Drops expired cache entries, so idle members do not keep their presence lists in memory. */
  private sweepCaches(): void {
    this.presenceLists.sweep();
  }

  /** Presence heartbeat for every member held here (and cache upkeep, on the same timer). */
  async heartbeat(): Promise<void> {
    this.sweepCaches();
    await this.deps.presence.refresh(this.deps.config.chat.replicaName, this.members.keys());
  }

  /**
   * Session check for long-lived sockets: a session that ended closes its sockets. Every open
   * socket's session is checked in bulk (a pipeline and at most two statements per thousand), and
   * a pass that outlasts the interval is not joined by another.
   */
  async revalidateSessions(): Promise<void> {
    if (this.revalidating) return;
    this.revalidating = true;
    try {
      const byToken = new Map<string, Connection[]>();
      for (const conn of this.all) {
        const list = byToken.get(conn.sessionToken) ?? [];
        list.push(conn);
        byToken.set(conn.sessionToken, list);
      }
      const tokens = [...byToken.keys()];
      // Redis or Postgres failing is not a verdict on anyone's session: nobody is closed.
      const sessions = await this.deps.sessions.verifyMany(tokens).catch(() => null);
      sessions?.forEach((session, i) => {
        if (session === null) for (const c of byToken.get(tokens[i]!)!) c.close(1008, "session expired");
      });
    } finally {
      this.revalidating = false;
    }
  }

  /**
   * Pub/sub stopped delivering while Redis still answers (the probe went stale: subscriptions
   * refused or dropped without a reconnect): subscribe every channel again — repeating a
   * subscription is harmless — and let every socket fill what it missed from its stream.
   */
  async repairSubscriptions(): Promise<void> {
    // While Redis is away a SUBSCRIBE waits for it: one repair at a time, not one per probe tick.
    if (this.repairing) return;
    this.repairing = true;
    try {
      log.warn("pub/sub round trip failing: subscribing every channel again");
      await this.deps.subscriber.subscribe(this.revokedChannel, this.visibilityChannel, this.membershipChannel);
      // blocks, unblocks and leaves announced while pub/sub was stale were missed: read them again
      this.presenceLists.clear();
      dropMembershipCache(this.deps.messaging);
      const ids = [...this.members.keys()];
      for (let i = 0; i < ids.length; i += 1000) {
        // Chunks wait on a slow Redis: a member who left meanwhile has sent its UNSUBSCRIBE, which
        // a SUBSCRIBE built from the old list would undo for good.
        const still = ids.slice(i, i + 1000).filter((id) => this.members.has(id));
        if (still.length) await this.deps.subscriber.subscribe(...still.map((id) => this.deps.keys.memberChannel(id)));
      }
      await this.recoverStreams();
    } finally {
      this.repairing = false;
    }
  }

  private async recoverAfterRedisReconnect(): Promise<void> {
    log.warn("redis subscriber reconnected: checking every member's stream");
    await this.recoverStreams();
  }

  /**
   * One pass over every socket at a time; a request that arrives during a pass gets one more pass
   * after it (what it wanted checked may have changed after the running pass looked).
   */
  private recoverStreams(): Promise<void> {
    if (this.recovering) {
      this.recoverAgain = true;
      return this.recovering;
    }
    this.recovering = (async () => {
      do {
        this.recoverAgain = false;
        await this.recoverStreamsOnce();
      } while (this.recoverAgain);
    })().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  private async recoverStreamsOnce(): Promise<void> {
    // (at once, before anything is awaited: no live event is written in an epoch not checked yet)
    for (const conn of this.all) conn.holdForStreamCheck();
    // A restarted Redis may have lost presence too: say at once who is here, not at the next beat.
    await this.heartbeat().catch(() => {});
    for (const [userId, group] of this.members) {
      // one read of the member's stream head for all of their sockets here
      const head = await this.deps.events.head(userId).catch(() => null);
      for (const conn of inGroup(group)) {
        if (!head) conn.close(1011, "recovery failed");
        else await conn.recoverAfterRedisReconnect(head).catch(() => conn.close(1011, "recovery failed"));
      }
    }
  }

  /** At the cap: new sockets go to another replica. */
  isFull(): boolean {
    return this.all.size >= this.maxSockets;
  }

  stats() {
    return { sockets: this.all.size, maxSockets: this.maxSockets, members: this.members.size, channels: this.members.size + 1 };
  }
}
