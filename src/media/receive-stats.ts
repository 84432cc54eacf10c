/**
 * Live figures of one receiving stream. Counters are cumulative since the receiver was created
 * (they survive a sender restart); delay, jitter and drift describe the current stream.
 *
 * Every well-formed packet handed to the jitter buffer counts in packetsReceived, and at most one
 * of packetsDuplicated, packetsLate, packetsFromOldStream or packetsDiscarded says why it was not
 * played; packetsReordered counts packets that arrived after a later-numbered one but still in time.
 */
export interface ReceiveStats {
  /** Playout delay of the most recently played packet, relative to the fastest path observed. */
  currentDelayMs: number;
  targetDelayMs: number;
  packetsReceived: number;
  /** Frames whose packet had not arrived when it was due and never arrived (a late arrival moves it to packetsLate). */
  packetsLost: number;
  /** Packets that arrived after their playout time (already concealed); dropped. */
  packetsLate: number;
  packetsDuplicated: number;
  packetsReordered: number;
  /** Datagrams that failed to parse, and payloads the decoder rejected (those are concealed). */
  packetsMalformed: number;
  /** Packets of a previous SSRC arriving after the sender restarted; dropped. */
  packetsFromOldStream: number;
  /** Packets far outside the stream's sequence range (RFC 3550 A.1 probation) or flushed by overflow. */
  packetsDiscarded: number;
  /** Lost frames rebuilt from the next packet's in-band FEC. */
  packetsRecovered: number;
  /** Audio synthesised by the decoder's concealment (losses and underruns). */
  concealedMs: number;
  /** Audio removed plus audio inserted by time-scaling. */
  timeScaledMs: number;
  /**
   * Times playback ran dry while playing (the packet due had not arrived and none after it had) and
   * then resumed; a stream that ends, or pauses for longer than the maximum delay, is not counted.
   */
  underruns: number;
  /** Sender clock rate relative to the playback clock, in ppm (positive: the sender is faster). */
  driftPpm: number;
  /** RFC 3550 interarrival jitter, in ms. */
  jitterMs: number;
  /** Times a new stream (SSRC change or a sequence restart) replaced the old one. */
  streamResets: number;
}

export function emptyReceiveStats(): ReceiveStats {
  return {
    currentDelayMs: 0,
    targetDelayMs: 0,
    packetsReceived: 0,
    packetsLost: 0,
    packetsLate: 0,
    packetsDuplicated: 0,
    packetsReordered: 0,
    packetsMalformed: 0,
    packetsFromOldStream: 0,
    packetsDiscarded: 0,
    packetsRecovered: 0,
    concealedMs: 0,
    timeScaledMs: 0,
    underruns: 0,
    driftPpm: 0,
    jitterMs: 0,
    streamResets: 0,
  };
}
