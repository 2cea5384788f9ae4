/**
 * A receiving device's check that every confirmed message of every other device reached it: the
 * seq-gap and tail checks see only what the member's log holds, not a message the server confirmed
 * (`sent`) but never appended to this member's stream.
 *
 * What the device could have received: a brand-new device starts at its log's head (its first
 * `welcome`), and every later connection resumes from its cursor, so it must get every message
 * written after that first welcome arrived — and, after a discontinuity that is counted elsewhere
 * (a seq gap or a skipping welcome: chat_lost; a resync: chat_resyncs), every message written
 * after it. A message carries the time it was written (`clientTs`; every device runs on the k6
 * machine's one clock), and a device numbers its messages in the order it writes them, so the
 * first message received from a sender that was written after that moment starts that sender's
 * contiguous range: every later number was written later still.
 *
 * When a number may be declared lost: not on sight of a hole, since sends are resent (after a
 * reconnect, an error, a timeout) and can reach the stream after later ones. A message's
 * `confirmedBelow` c says every number below c was confirmed before it was written, i.e. appended
 * to every participant's stream before it (the server stores a message's events, then answers
 * `sent`); conversation order is the same in every stream and this device's stream has no gaps
 * (else it would have restarted). So once a message with mark c has arrived, a number below c in
 * the range that has not arrived never will: it is lost.
 *
 * The one limit: a sender's last messages are never vouched for by a later one (the tail check
 * still covers what the log holds).
 */
import type { DeviceMessage } from "./message-body.ts";

export interface Settled {
  /** confirmed before a message that arrived, yet never arrived */
  lost: number;
  /** confirmed before a message that arrived, and arrived before it */
  verified: number;
}

const NOTHING: Settled = { lost: 0, verified: 0 };

interface SenderRange {
  /** numbers below this are settled (received or counted lost), or before the range */
  settledBelow: number;
  /** numbers at or above settledBelow that arrived */
  arrived: Set<number>;
}

/**
 * A sender whose mark stopped (it gave a send up: never confirmed, counted as chat_send_unacked)
 * leaves every later number unsettled; past this many, its range starts over, keeping memory
 * bounded on a long soak.
 */
const MAX_UNSETTLED = 5000;

export class SenderGaps {
  /** messages written after this time (ms) must arrive; -1 before the device's first welcome */
  private checkFrom = -1;
  private readonly ranges = new Map<string, SenderRange>();

  /** The device's first welcome (later welcomes resume: nothing is skipped). */
  startAt(receivedAt: number): void {
    if (this.checkFrom < 0) this.checkFrom = receivedAt;
  }

  /** After a counted discontinuity (gap, skipping welcome, resync): only later messages are owed. */
  restartAt(receivedAt: number): void {
    this.checkFrom = receivedAt;
    this.ranges.clear();
  }

  /**
   * Records one message from another device (`writtenAt`: its `clientTs`); returns the sender's
   * numbers this message settled: arrived as they must have, or lost.
   */
  receive(msg: DeviceMessage, writtenAt: number): Settled {
    if (this.checkFrom < 0 || !(writtenAt > this.checkFrom)) return NOTHING;
    let range = this.ranges.get(msg.sender);
    if (!range || range.arrived.size >= MAX_UNSETTLED) {
      range = { settledBelow: msg.n, arrived: new Set() };
      this.ranges.set(msg.sender, range);
    }
    // below settledBelow: a number sent before the range began, arriving late (a resend)
    if (msg.n >= range.settledBelow) range.arrived.add(msg.n);
    return settle(range, msg.confirmedBelow);
  }

  /** numbers that arrived and still wait for a later mark (for tests and memory bounds) */
  unsettled(): number {
    let n = 0;
    for (const r of this.ranges.values()) n += r.arrived.size;
    return n;
  }
}

function settle(range: SenderRange, confirmedBelow: number): Settled {
  if (confirmedBelow <= range.settledBelow) return NOTHING;
  let lost = 0;
  let verified = 0;
  for (let k = range.settledBelow; k < confirmedBelow; k++) {
    if (range.arrived.delete(k)) verified++;
    else lost++;
  }
  range.settledBelow = confirmedBelow;
  return { lost, verified };
}
