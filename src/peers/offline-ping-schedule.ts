/**
 * When an offline unit is pinged again. Every ping to a vanished unit's address makes the sender's
 * kernel ask the whole LAN for it (three ARP broadcasts, received by every unit), so a site where
 * some units stay unplugged paid for them in every unit's packet budget: ~26 packets/s received
 * per unit with 20 of 50 gone. A unit that comes back pings its own successor and is heard at once
 * (and a unit that wrongly holds one offline finds out by comparing views with its neighbours), so
 * these pings only need to catch the rest: the delay between unanswered pings to one unit doubles,
 * from `firstDelayMs` up to `maxDelayMs`.
 */
export class OfflinePingSchedule {
  private readonly pings = new Map<string, { sentAt: number; unanswered: number }>();

  constructor(
    private readonly firstDelayMs: number,
    private readonly maxDelayMs: number,
  ) {}

  /** Whether `unitId` may be pinged at `now`. */
  isDue(unitId: string, now: number): boolean {
    const last = this.pings.get(unitId);
    return !last || now - last.sentAt >= this.delayAfter(last.unanswered);
  }

  sent(unitId: string, now: number): void {
    const last = this.pings.get(unitId);
    this.pings.set(unitId, { sentAt: now, unanswered: last?.unanswered ?? 0 });
  }

  /** The ping sent last got no answer. */
  unanswered(unitId: string): void {
    const last = this.pings.get(unitId);
    if (last) last.unanswered += 1;
  }

  /** It answered (or is online again): the next time it goes, it is pinged at the first delay again. */
  answered(unitId: string): void {
    this.pings.delete(unitId);
  }

  /** Forgets every unit but `offline` (those online again, or gone from the site). */
  keepOnly(offline: ReadonlySet<string>): void {
    for (const unitId of this.pings.keys()) if (!offline.has(unitId)) this.pings.delete(unitId);
  }

  private delayAfter(unanswered: number): number {
    return Math.min(this.maxDelayMs, this.firstDelayMs * 2 ** Math.max(0, unanswered - 1));
  }
}
