import { describe, expect, test } from "bun:test";
import { deviceMessageBody, parseDeviceMessage } from "./message-body.ts";
import { RecentIds } from "./recent-ids.ts";
import { SenderGaps } from "./sender-gaps.ts";

/** Message n of `sender`, marked `below`, as a receiver parses it off the wire. */
function msg(sender: string, n: number, below: number) {
  const parsed = parseDeviceMessage(deviceMessageBody(sender, n, below));
  if (!parsed) throw new Error("the body did not parse");
  return parsed;
}

/** What a receiver settles from messages arriving in this order: [n, mark, writtenAt]. */
function arrive(gaps: SenderGaps, sender: string, messages: Array<[number, number, number]>) {
  const total = { lost: 0, verified: 0 };
  for (const [n, below, writtenAt] of messages) {
    const s = gaps.receive(msg(sender, n, below), writtenAt);
    total.lost += s.lost;
    total.verified += s.verified;
  }
  return total;
}

describe("a device's message body", () => {
  test("carries the sender, its number and its mark, and nothing else parses as one", () => {
    expect(parseDeviceMessage("k6 k6_abc_3_0 #12 <10")).toEqual({ sender: "k6_abc_3_0", n: 12, confirmedBelow: 10 });
    expect(parseDeviceMessage("hello from k6")).toBeNull();
    expect(parseDeviceMessage("seed message 3")).toBeNull();
    expect(parseDeviceMessage("announcement k6fanout=x:0:1")).toBeNull();
    // a mark above its own number would vouch for itself
    expect(parseDeviceMessage("k6 a #3 <4")).toBeNull();
    expect(parseDeviceMessage(undefined)).toBeNull();
  });
});

describe("the sender-gap check", () => {
  test("a confirmed message that never arrives is lost once a later message's mark covers it", () => {
    const gaps = new SenderGaps();
    gaps.startAt(1000);
    // 1, 2 arrive; 3 was confirmed (4's mark is 4) but never reached this device
    const seen = arrive(gaps, "s", [
      [1, 1, 1001],
      [2, 2, 1002],
      [4, 4, 1004],
    ]);
    expect(seen).toEqual({ lost: 1, verified: 2 });
  });

  test("a hole whose send was still unanswered is not lost: it may come later (a resend)", () => {
    const gaps = new SenderGaps();
    gaps.startAt(1000);
    // 3 is resent after 4 and 5 (its mark stays at 3 until it is confirmed)
    const before = arrive(gaps, "s", [
      [1, 1, 1001],
      [2, 2, 1002],
      [4, 3, 1004],
      [5, 3, 1005],
    ]);
    expect(before).toEqual({ lost: 0, verified: 2 });
    const after = arrive(gaps, "s", [
      [3, 3, 1003],
      [6, 6, 1006],
    ]);
    expect(after).toEqual({ lost: 0, verified: 3 });
  });

  test("messages written before the device's first welcome are not owed", () => {
    const gaps = new SenderGaps();
    // nothing is owed before a welcome
    expect(gaps.receive(msg("s", 1, 1), 500)).toEqual({ lost: 0, verified: 0 });
    gaps.startAt(1000);
    // 2–5 were written before it (a late first connection): 2 and 3 never arrive, 4 and 5 are replayed
    const seen = arrive(gaps, "s", [
      [4, 4, 990],
      [5, 5, 995],
      [6, 6, 1006],
      [7, 7, 1007],
    ]);
    expect(seen).toEqual({ lost: 0, verified: 1 });
  });

  test("a later welcome (a resume, a drain's reconnect) moves nothing: what was owed still is", () => {
    const gaps = new SenderGaps();
    gaps.startAt(1000);
    arrive(gaps, "s", [[1, 1, 1001]]);
    gaps.startAt(5000);
    // 2 was written while the device was away and must still come (by replay)
    expect(arrive(gaps, "s", [[3, 3, 5001]])).toEqual({ lost: 1, verified: 1 });
  });

  test("after a counted discontinuity only messages written after it are owed", () => {
    const gaps = new SenderGaps();
    gaps.startAt(1000);
    arrive(gaps, "s", [[1, 1, 1001]]);
    gaps.restartAt(2000);
    // 2 and 3 fell in the gap (counted as a gap or a resync already)
    expect(arrive(gaps, "s", [[4, 4, 2001], [5, 5, 2002]])).toEqual({ lost: 0, verified: 1 });
  });

  test("each sender is checked apart", () => {
    const gaps = new SenderGaps();
    gaps.startAt(0);
    const a = arrive(gaps, "a", [
      [1, 1, 1],
      [3, 3, 3],
    ]);
    const b = arrive(gaps, "b", [
      [1, 1, 1],
      [2, 2, 2],
      [3, 3, 3],
    ]);
    expect(a.lost).toBe(1);
    expect(b).toEqual({ lost: 0, verified: 2 });
  });

  test("a sender whose mark stopped (a send given up) keeps memory bounded", () => {
    const gaps = new SenderGaps();
    gaps.startAt(0);
    for (let n = 1; n <= 12_000; n++) gaps.receive(msg("s", n, 1), n);
    expect(gaps.unsettled()).toBeLessThanOrEqual(5000);
  });
});

describe("a device's memory of ids", () => {
  test("keeps what it saw within its window and forgets what is older", () => {
    const ids = new RecentIds(1000);
    ids.add("a", 0);
    ids.add("b", 500);
    expect(ids.has("a") && ids.has("b")).toBe(true);
    ids.add("c", 1200);
    expect(ids.has("a")).toBe(false);
    expect(ids.has("b")).toBe(true);
    expect(ids.size).toBe(2);
  });
});
