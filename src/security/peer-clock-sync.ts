/** Below this, a new estimate is noise (network round trips, scheduling), not a clock change. */
const SIGNIFICANT_CHANGE_MS = 1_000;

/**
 * What each peer's wall clock reads compared with ours, learnt from the signed time in its
 * answers, so that the timestamps in our requests fall inside its freshness window even when the
 * two clocks disagree by hours. A Pi has no real-time clock: until NTP answers (and on a LAN
 * without internet it never does) it runs from the time saved at the last shutdown, so units of
 * one site can easily be hours or days apart.
 *
 * Kept per unit id, not per address: the peer client calls `learn` only with an answer whose
 * signature proves that this unit answered exactly the request we sent (src/security/peer-auth.ts),
 * so neither a stranger nor another unit's answer, relayed, can move a peer's offset.
 */
export class PeerClockOffsets {
  private readonly offsets = new Map<string, number>();

  /** Milliseconds to add to our wall clock to read the peer's (0 until it has answered once). */
  offsetMs(unitId: string | null): number {
    return unitId === null ? 0 : (this.offsets.get(unitId) ?? 0);
  }

  /** Every peer's offset, for /api/peers. */
  known(unitId: string): number | null {
    return this.offsets.get(unitId) ?? null;
  }

  /**
   * Takes the peer's signed time from a verified answer to our own request; the peer read its
   * clock somewhere between our send and our receipt, so the midpoint is the best guess. Changes
   * below a second are round-trip noise and leave the estimate as it is.
   */
  learn(unitId: string, peerTimeMs: number, sentAtMs: number, receivedAtMs: number): void {
    const offset = peerTimeMs - (sentAtMs + receivedAtMs) / 2;
    const previous = this.offsets.get(unitId);
    if (previous === undefined || Math.abs(offset - previous) >= SIGNIFICANT_CHANGE_MS) this.offsets.set(unitId, offset);
  }
}
