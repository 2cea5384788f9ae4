/** Identifiers the protocol asks clients to generate. */
import { randomBytes } from "k6/crypto";

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i + 0x100).toString(16).slice(1));

/** RFC 4122 version 4 UUID (the `id` of a `send`, which makes retries idempotent). */
export function uuidv4(): string {
  const b = new Uint8Array(randomBytes(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = (i: number) => HEX[b[i]!]!;
  return (
    h(0) + h(1) + h(2) + h(3) + "-" + h(4) + h(5) + "-" + h(6) + h(7) + "-" + h(8) + h(9) + "-" +
    h(10) + h(11) + h(12) + h(13) + h(14) + h(15)
  );
}

/** A stable `clientId` (8–64 of [A-Za-z0-9_-]) for one simulated device of one member. */
export function clientIdFor(runId: string, memberIndex: number, device: number): string {
  return `k6_${runId}_${memberIndex}_${device}`.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64).padEnd(8, "_");
}
