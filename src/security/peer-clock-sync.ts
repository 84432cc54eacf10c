import type { IncomingPeerAnswer, PeerClockSync } from '../peers/peer-client.js';
import { PEER_TIME_HEADER } from './peer-auth.js';

/** Below this, a new estimate is noise (network round trips, scheduling), not a clock change. */
const SIGNIFICANT_CHANGE_MS = 1_000;
const TIME_PATTERN = /^[0-9]{1,16}$/;

/**
 * What each peer's wall clock reads compared with ours, learnt from the signed time in its
 * answers, so that the timestamps in our requests fall inside its freshness window even when the
 * two clocks disagree by hours. A Pi has no real-time clock: until NTP answers (and on a LAN
 * without internet it never does) it runs from the time saved at the last shutdown, so units of
 * one site can easily be hours or days apart. Only answers whose signature proves they come from a
 * unit of the site reach `learn` (the peer client verifies first), so a stranger cannot skew us.
 */
export class PeerClockOffsets implements PeerClockSync {
  private readonly offsets = new Map<string, number>();

  /** Milliseconds to add to our wall clock to read the peer's (0 until it has answered once). */
  offsetMs(baseUrl: string): number {
    return this.offsets.get(baseUrl) ?? 0;
  }

  /**
   * Takes the peer's time from a verified answer; the peer read its clock somewhere between our
   * send and our receipt, so the midpoint is the best guess. True when the offset moved enough
   * that a request refused with the old one is worth sending again.
   */
  learn(baseUrl: string, answer: IncomingPeerAnswer, sentAtMs: number, receivedAtMs: number): boolean {
    const stamp = answer.headers.get(PEER_TIME_HEADER);
    if (stamp === null || !TIME_PATTERN.test(stamp)) return false;
    const offset = Number(stamp) - (sentAtMs + receivedAtMs) / 2;
    const previous = this.offsets.get(baseUrl) ?? 0;
    this.offsets.set(baseUrl, offset);
    return Math.abs(offset - previous) >= SIGNIFICANT_CHANGE_MS;
  }
}
