/**
 * Packet index bookkeeping for one SRTP stream (one SSRC, one direction): the rollover counter
 * (ROC) that extends the 16-bit RTP sequence number to the 48-bit SRTP index (RFC 3711 3.3.1 and
 * Appendix A), and the replay list (RFC 3711 3.3.2). Pure state, no cryptography: the caller
 * estimates an index, authenticates the packet with it, and only then commits it.
 */

const SEQUENCE_SPAN = 0x10000;
const HALF_SEQUENCE_SPAN = 0x8000;
/** The largest index SRTP allows (2^48 - 1); beyond it the master key must not be used. */
export const MAX_SRTP_INDEX = 2 ** 48 - 1;

export interface IndexEstimate {
  /** The 48-bit packet index, or -1 when the sequence number lies before the stream began. */
  index: number;
  /** The rollover counter the index was formed with (the ROC the tag is computed over). */
  rolloverCounter: number;
}

export type ReplayVerdict = 'new' | 'replayed' | 'too-old';

/** What becomes of an authenticated packet on the receiving side. */
export type AdmitVerdict = 'accepted' | 'unconfirmed-jump';

/**
 * Authenticated packets in a row, each less than a window ahead of the one before, that move the
 * stream to a position far ahead of where it was (the sender really skipped, e.g. after an outage).
 */
export const JUMP_CONFIRMATIONS = 3;

/**
 * Tracks the highest index seen so far (s_l and ROC of RFC 3711) and which of the last
 * `windowSize` indices have been accepted.
 */
export class SrtpIndexTracker {
  /** Highest accepted index, or -1 before the first packet. */
  private highest = -1;
  /** Slot i % windowSize holds the last accepted index that maps to it. */
  private readonly accepted: Float64Array;
  /** The run of far-ahead packets seen so far (see admit), or null. */
  private jumpRun: { last: number; count: number } | null = null;
  /** The farthest one authenticated packet may move the window ahead on its own. */
  private readonly maxJump: number;

  constructor(
    private readonly windowSize = 128,
    /** ROC to assume for the first packet (0 unless signaled otherwise, RFC 3711 3.3.1). */
    private readonly initialRolloverCounter = 0,
  ) {
    if (!Number.isInteger(windowSize) || windowSize < 64) throw new RangeError(`replay window must be at least 64 packets (RFC 3711 3.3.2), got ${windowSize}`);
    this.accepted = new Float64Array(windowSize).fill(-1);
    // The stream's next packet is then still inside the window behind it, so it stays playable.
    this.maxJump = windowSize - 1;
  }

  get highestIndex(): number {
    return this.highest;
  }

  /**
   * The index a packet with this sequence number most probably has: the candidate (ROC-1, ROC
   * or ROC+1) closest to the highest index seen (RFC 3711 Appendix A).
   */
  estimate(sequence: number): IndexEstimate {
    if (this.highest < 0) {
      const rolloverCounter = this.initialRolloverCounter;
      return { index: rolloverCounter * SEQUENCE_SPAN + sequence, rolloverCounter };
    }
    const rolloverCounter = Math.floor(this.highest / SEQUENCE_SPAN);
    const highestSequence = this.highest % SEQUENCE_SPAN;
    let guess = rolloverCounter;
    if (highestSequence < HALF_SEQUENCE_SPAN) {
      if (sequence - highestSequence > HALF_SEQUENCE_SPAN) guess = rolloverCounter - 1;
    } else if (highestSequence - HALF_SEQUENCE_SPAN > sequence) {
      guess = rolloverCounter + 1;
    }
    if (guess < 0) return { index: -1, rolloverCounter: 0 };
    return { index: guess * SEQUENCE_SPAN + sequence, rolloverCounter: guess };
  }

  /**
   * The indices to try authenticating a packet with, most probable first. Normally one. Before
   * the first packet the ROC is unknown; a stream whose sender started near 65535 and whose first
   * packets never arrived (lost, or sent before this side was listening) shows a small sequence
   * number already under ROC 1. RFC 3711 would then fail the whole stream, so ROC 1 is tried as
   * well: the second HMAC costs little, and only happens for packets that fail the first.
   */
  candidates(sequence: number): IndexEstimate[] {
    const likely = this.estimate(sequence);
    if (this.highest >= 0 || sequence >= HALF_SEQUENCE_SPAN) return [likely];
    const rolloverCounter = likely.rolloverCounter + 1;
    return [likely, { index: rolloverCounter * SEQUENCE_SPAN + sequence, rolloverCounter }];
  }

  /** Whether an index may still be accepted (checked before authentication, to save the work). */
  check(index: number): ReplayVerdict {
    if (index < 0) return 'too-old';
    if (this.highest < 0 || index > this.highest) return 'new';
    if (this.highest - index >= this.windowSize) return 'too-old';
    // A newer index in this slot would be at least windowSize ahead of `index`: caught above.
    return this.accepted[index % this.windowSize] === index ? 'replayed' : 'new';
  }

  /** Records an index (a sent packet's, or an admitted one's): it becomes a replay from now on. */
  commit(index: number): void {
    this.accepted[index % this.windowSize] = index;
    if (index > this.highest) this.highest = index;
  }

  /**
   * Takes an authenticated packet on the receiving side. One that lies a whole window or more
   * ahead of the highest index would move the window past the stream's next packets, which would
   * then all be refused as too old: one stray packet (a sender's glitch, or anybody holding the
   * key) would mute the stream until it catches up, minutes later. So such a packet moves nothing
   * and is not played; only JUMP_CONFIRMATIONS of them in a row (each less than a window after
   * the one before, as a stream that really skipped ahead sends) move the window there.
   */
  admit(index: number): AdmitVerdict {
    if (this.highest < 0 || index <= this.highest + this.maxJump) {
      this.commit(index);
      return 'accepted';
    }
    const run = this.jumpRun;
    if (run && index > run.last && index - run.last <= this.maxJump) {
      run.last = index;
      run.count += 1;
    } else {
      this.jumpRun = { last: index, count: 1 };
    }
    if (this.jumpRun!.count < JUMP_CONFIRMATIONS) return 'unconfirmed-jump';
    this.jumpRun = null;
    this.commit(index);
    return 'accepted';
  }
}
