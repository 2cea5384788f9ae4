/** Issue 7's targets for a 2-core machine, in one place for the harnesses and the report. */
export const TARGETS = {
  /** chat: this rate, persisted and acknowledged, within `chatP99Ms` */
  chatRate: 8000,
  chatP99Ms: 25,
  /** the latency line of the "highest rate" ratios */
  ratioLineP99Ms: 100,
  /** Xplicit's highest rate at the line, at least these times the other system's */
  vsSocketio: 2,
  vsFloor: 0.7,
  /** RSS per idle authenticated connection */
  bytesPerConnection: 4096,
  /** the notifications list through nginx + TLS */
  listRps: 5000,
  listP99Ms: 20,
} as const;
