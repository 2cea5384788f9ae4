/**
 * The body of a message a load-test device writes: `k6 <clientId> #<n> <<c>`.
 *  - n numbers the device's messages 1, 2, 3, … in the order it wrote them (a resend repeats the
 *    frame, so the same n);
 *  - c: every message of the device numbered below c had been confirmed by `sent` when this one
 *    was written. A send that is given up (refused, or left unanswered) is never confirmed, so c
 *    stops below it for good.
 * A receiver uses both to find the device's confirmed messages that never reached it
 * (sender-gaps.ts). Messages of anyone else (the api mix's HTTP sends, the seed messages, the
 * fan-out's announcements) do not have this shape and are not counted as the devices' deliveries.
 */
export interface DeviceMessage {
  /** the writing device's clientId */
  sender: string;
  n: number;
  confirmedBelow: number;
}

export function deviceMessageBody(sender: string, n: number, confirmedBelow: number): string {
  return `k6 ${sender} #${n} <${confirmedBelow}`;
}

const SHAPE = /^k6 (\S+) #(\d{1,15}) <(\d{1,15})$/;

export function parseDeviceMessage(body: unknown): DeviceMessage | null {
  if (typeof body !== "string") return null;
  const m = SHAPE.exec(body);
  if (!m) return null;
  const n = Number(m[2]);
  const confirmedBelow = Number(m[3]);
  // c ≤ n by construction: a body that says otherwise is not one of ours
  if (n < 1 || confirmedBelow > n) return null;
  return { sender: m[1]!, n, confirmedBelow };
}
