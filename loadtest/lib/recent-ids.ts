/**
 * Ids seen within the last `windowMs`: a device's memory of message ids (duplicate check) and of
 * its answered sends (echo check). Bounded by age, not by a count, so a soak of hours holds only a
 * window's worth per device; ids arrive in time order, so the oldest are always at the front.
 */
export class RecentIds {
  private readonly seenAt = new Map<string, number>();
  readonly windowMs: number;

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  has(id: string): boolean {
    return this.seenAt.has(id);
  }

  add(id: string, now: number): void {
    if (!this.seenAt.has(id)) this.seenAt.set(id, now);
    this.forgetBefore(now - this.windowMs);
  }

  get size(): number {
    return this.seenAt.size;
  }

  private forgetBefore(cutoff: number): void {
    for (const [id, at] of this.seenAt) {
      if (at >= cutoff) return;
      this.seenAt.delete(id);
    }
  }
}
