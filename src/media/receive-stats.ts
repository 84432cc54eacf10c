/**
 * Live figures of one receiving stream. Counters are cumulative since the receiver was created
 * (they survive a sender restart); delay, jitter and drift describe the current stream.
 *
 * Every well-formed packet handed to the jitter buffer counts in packetsReceived, and at most one
 * of packetsDuplicated, packetsLate, packetsFromOldStream or packetsDiscarded says why it was not
 * played; packetsReordered counts packets that arrived after a later-numbered one but still in time.
 */
export interface ReceiveStats {
  /**
   * Delay of the most recently played packet from its arrival over the fastest path observed to
   * the speaker: the jitter buffer's playout delay plus the output delay.
   */
  currentDelayMs: number;
  /** The same, as the buffer aims for it. */
  targetDelayMs: number;
  /** Of which the sound device's share: from a frame leaving the buffer to its first sample being heard. */
  outputDelayMs: number;
  /** Of the target, what the network needs (relative delays' high quantile, or the floor). */
  networkTargetMs: number;
  /** Of the target, how far ahead of its steady rhythm the device has asked for frames lately. */
  requestLeadMs: number;
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
    outputDelayMs: 0,
    networkTargetMs: 0,
    requestLeadMs: 0,
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
