/**
 * Chooses the playout delay, after the idea of WebRTC NetEq's delay manager: each packet's arrival
 * delay *relative to the fastest recent packet* goes into a histogram whose old entries are slowly
 * forgotten, and the target is a high quantile of it (enough delay that all but ~1% of packets
 * arrive in time).
 *
 * Relative delay: `offset = arrivalMs - mediaMs` (media time = RTP timestamp in ms) is the
 * network delay plus an unknown constant (the two clocks' origins). Its lower envelope is the
 * fastest path; `offset - envelope` is how late this packet was relative to that path. A sender
 * whose clock runs slow or fast makes every offset drift (by 250 ms a second for an emulated
 * board that sends at 80% of real time), so the envelope is a line whose slope
 * is fitted to recent minima (FastestPath), not a constant.
 *
 * Behaviour: a jump in jitter raises the quantile after ~1% of the forgetting window (a few
 * packets: quick to rise), while a calm network lowers it only once the old delays have been
 * forgotten (tens of seconds: slow to fall), so bursts that recur do not cause repeated losses.
 */
export interface DelayManagerOptions {
  minMs: number;
  maxMs: number;
  /** Fraction of packets the target should cover. */
  quantile?: number;
  /** Per-packet weight decay of the histogram; 0.9995 remembers roughly the last 2000 packets. */
  forgetFactor?: number;
  bucketMs?: number;
}

/** Histogram entries kept to be taken back (at least FastestPath's steady run). */
const RECENT_ENTRIES = 16;

export class DelayManager {
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly quantile: number;
  private readonly forgetFactor: number;
  private readonly bucketMs: number;
  private readonly histogram: Float64Array;
  private weight = 1;
  private totalWeight = 0;
  private readonly fastest = new FastestPath();
  /** The latest entries recorded into the histogram, newest last, to take back when they are found to have been measured against a wrong line. */
  private readonly recent: { index: number; weight: number }[] = [];
  private floorMs: number;
  private cachedTarget: number | null = null;

  constructor(options: DelayManagerOptions) {
    this.minMs = options.minMs;
    this.maxMs = Math.max(options.minMs, options.maxMs);
    this.quantile = options.quantile ?? 0.99;
    this.forgetFactor = options.forgetFactor ?? 0.9995;
    this.bucketMs = options.bucketMs ?? 0.25;
    this.floorMs = this.minMs;
    this.histogram = new Float64Array(Math.ceil(this.maxMs / this.bucketMs) + 1);
  }

  /** Records one arrival; returns its delay relative to the fastest path, in ms. */
  update(arrivalMs: number, mediaMs: number): number {
    const line = this.fastest.update(mediaMs, arrivalMs - mediaMs);
    // The run that moved the line was not late: it was measured against a line that was wrong.
    if (this.fastest.packetsBeforeRestart > 0) this.forgetRecent(this.fastest.packetsBeforeRestart);
    const relative = Math.max(0, arrivalMs - mediaMs - line);
    this.record(relative);
    return relative;
  }

  /** `arrival - media` of the fastest path for media time m: a packet with media time m ideally arrives at m + this. */
  baseOffsetAt(mediaMs: number): number | null {
    return this.fastest.at(mediaMs);
  }

  /** The fastest path's drift: ms of extra delay per ms of media (positive: the sender's clock is slow). */
  get driftSlope(): number {
    return this.fastest.slope;
  }

  /** Playout delay to aim for (relative to the fastest path), within [floor, maxMs]. */
  get targetMs(): number {
    this.cachedTarget ??= this.clamp(this.quantileMs(this.quantile));
    return this.cachedTarget;
  }

  /** What the network's delays need alone (the high quantile), before the floor and the cap. */
  get networkMs(): number {
    return this.quantileMs(this.quantile);
  }

  /** Raises the lowest target above minMs (e.g. by a frame while packets are being lost), or lowers it back. */
  setFloor(floorMs: number): void {
    const floor = Math.min(this.maxMs, Math.max(this.minMs, floorMs));
    if (floor !== this.floorMs) {
      this.floorMs = floor;
      this.cachedTarget = null;
    }
  }

  private clamp(delayMs: number): number {
    return Math.min(this.maxMs, Math.max(this.floorMs, delayMs));
  }

  /**
   * The sender's timeline changed (new stream, or a timestamp jump): forget the fastest-path
   * estimate but keep the histogram, which describes the network, not the sender.
   */
  rebase(): void {
    this.fastest.reset();
  }

  private record(relativeMs: number): void {
    // Lazy forgetting: instead of scaling every bucket down, scale each new entry up.
    this.weight /= this.forgetFactor;
    if (this.weight > 1e100) this.renormalise();
    const index = Math.min(this.histogram.length - 1, Math.floor(relativeMs / this.bucketMs));
    this.histogram[index] += this.weight;
    this.totalWeight += this.weight;
    this.cachedTarget = null;
    this.recent.push({ index, weight: this.weight });
    if (this.recent.length > RECENT_ENTRIES) this.recent.shift();
  }

  private forgetRecent(entries: number): void {
    for (const entry of this.recent.splice(Math.max(0, this.recent.length - entries))) {
      this.histogram[entry.index] = Math.max(0, this.histogram[entry.index] - entry.weight);
      this.totalWeight = Math.max(0, this.totalWeight - entry.weight);
    }
    this.cachedTarget = null;
  }

  private renormalise(): void {
    const scale = 1 / this.weight;
    for (let i = 0; i < this.histogram.length; i++) this.histogram[i] *= scale;
    for (const entry of this.recent) entry.weight *= scale;
    this.totalWeight *= scale;
    this.weight = 1;
  }

  private quantileMs(quantile: number): number {
    if (this.totalWeight === 0) return this.minMs;
    const wanted = quantile * this.totalWeight;
    let cumulative = 0;
    for (let i = 0; i < this.histogram.length; i++) {
      cumulative += this.histogram[i];
      if (cumulative >= wanted) return (i + 1) * this.bucketMs;
    }
    return this.maxMs;
  }
}

/**
 * The fastest path as a line over media time: `arrival - media` offsets of the quickest packets.
 * Offsets are kept as the minimum per half second of media time over the last 20 s; the line's
 * slope is fitted through those minima (the sender's clock drift against ours, within ±50%;
 * Theil-Sen, so a burst of late buckets does not tilt it), and it runs through the lowest of them
 * relative to that slope, so it rises after a route gets slower (within the window) and follows a
 * drifting sender at once. A packet a little below the line moves it down at once; one further
 * below, only when the next packet arrives as early. A packet cannot arrive before it was sent, so
 * one alone well ahead of the stream's timing is corrupted or forged (anyone on the LAN can send
 * plain RTP with the stream's SSRC); taken as the fastest path, it would make every real packet
 * look late by as much, for the whole window. A jump of the offset that no drift explains (the
 * sender skipped ahead in time, or restarted its clock) starts the fit again from there. The very
 * first packet has nothing to be checked against: when hardly any packet comes near the line it set
 * (copies corrupted alike may) and a steady run comes far above it instead, it was such a packet,
 * and the fit starts again from the run. (A burst after a stall is not steady: its offsets fall by
 * a frame per packet.)
 */
export class FastestPath {
  private readonly minima: { mediaMs: number; offsetMs: number }[] = [];
  private anchor: { mediaMs: number; offsetMs: number } | null = null;
  /** The offset of the last packet that came well below the line, until the next packet confirms or refutes it. */
  private earlyOffsetMs: number | null = null;
  /** Since the fit started, before the packet being taken: packets in all, those within jumpMs of the line, those further above it. */
  private packetsSinceFit = 0;
  private nearLinePackets = 0;
  private farAbovePackets = 0;
  /** Offsets of the latest packets further above the line than jumpMs. */
  private readonly farAboveOffsets: number[] = [];
  /** After update: how many packets before this one were measured against a line just dropped as wrong (0: none). */
  packetsBeforeRestart = 0;
  slope = 0;

  constructor(
    private readonly bucketMs = 500,
    private readonly windowBuckets = 40,
    /** Buckets needed before a slope is fitted. */
    private readonly fitAfter = 3,
    /**
     * Steepest drift followed: a sender at 2/3 of real time (slope 0.5) or twice it (-0.5). An
     * emulated board sends at 67-84% of real time (slopes 0.2-0.5); a line held flatter than the
     * sender's drift falls ever further below it, every packet then looks seconds late, and the
     * buffer drops what it should play and reports seconds of delay it does not have.
     */
    private readonly maxSlope = 0.5,
    /** Further below the line than this, or a bucket's minimum this far from the last one: a jump. */
    private readonly jumpMs = 250,
    /** Further below the line than this needs the next packet's confirmation (an offset within as much) to move it. */
    private readonly confirmBelowMs = 30,
    /**
     * This many packets further above the line than jumpMs, their offsets within steadyRunMs, and
     * four times as many as came near it since the fit started, start the fit again.
     */
    private readonly steadyRunPackets = 8,
    private readonly steadyRunMs = 100,
  ) {}

  /** Takes one packet's offset; returns the line's value at its media time. */
  update(mediaMs: number, offsetMs: number): number {
    this.packetsBeforeRestart = 0;
    if (this.anchor !== null) {
      const belowMs = this.lineAt(mediaMs) - offsetMs;
      if (belowMs > this.confirmBelowMs) {
        const confirmed = this.earlyOffsetMs !== null && Math.abs(offsetMs - this.earlyOffsetMs) <= this.confirmBelowMs;
        if (!confirmed) {
          this.earlyOffsetMs = offsetMs;
          this.packetsSinceFit++;
          return this.lineAt(mediaMs);
        }
        if (belowMs > this.jumpMs) this.reset();
        // The path got faster (or the line stood on a packet that was not the stream's): the
        // minima of before would tilt the slope fitted through them, so the fit goes on without them.
        else this.minima.length = 0;
      } else if (-belowMs > this.jumpMs) {
        this.farAbovePackets++;
        this.farAboveOffsets.push(offsetMs);
        if (this.farAboveOffsets.length > this.steadyRunPackets) this.farAboveOffsets.shift();
        if (this.lineStandsOnStrays()) {
          this.packetsBeforeRestart = this.packetsSinceFit;
          this.reset();
        }
      } else {
        this.nearLinePackets++;
      }
    }
    this.earlyOffsetMs = null;
    const bucket = Math.floor(mediaMs / this.bucketMs);
    const last = this.minima[this.minima.length - 1];
    if (!last || Math.floor(last.mediaMs / this.bucketMs) < bucket) {
      if (last) this.refit();
      const previous = this.minima[this.minima.length - 1];
      if (previous && Math.abs(previous.offsetMs - offsetMs) > this.jumpMs + this.maxSlope * (mediaMs - previous.mediaMs)) this.minima.length = 0;
      this.minima.push({ mediaMs, offsetMs });
      while (this.minima.length > this.windowBuckets) this.minima.shift();
    } else if (Math.floor(last.mediaMs / this.bucketMs) === bucket && offsetMs < last.offsetMs) {
      last.mediaMs = mediaMs;
      last.offsetMs = offsetMs;
    }
    if (this.anchor === null || offsetMs < this.lineAt(mediaMs)) this.anchor = { mediaMs, offsetMs };
    this.packetsSinceFit++;
    return this.lineAt(mediaMs);
  }

  private lineStandsOnStrays(): boolean {
    const offsets = this.farAboveOffsets;
    return offsets.length >= this.steadyRunPackets && this.farAbovePackets > 4 * this.nearLinePackets && Math.max(...offsets) - Math.min(...offsets) <= this.steadyRunMs;
  }

  at(mediaMs: number): number | null {
    return this.anchor === null ? null : this.lineAt(mediaMs);
  }

  reset(): void {
    this.minima.length = 0;
    this.anchor = null;
    this.earlyOffsetMs = null;
    this.packetsSinceFit = 0;
    this.nearLinePackets = 0;
    this.farAbovePackets = 0;
    this.farAboveOffsets.length = 0;
    this.slope = 0;
  }

  private lineAt(mediaMs: number): number {
    return this.anchor!.offsetMs + this.slope * (mediaMs - this.anchor!.mediaMs);
  }

  /** At each completed bucket: the slope through the minima, and the line through the lowest of them. */
  private refit(): void {
    const points = this.minima;
    if (points.length >= this.fitAfter) {
      // Theil-Sen: the median of the slopes between every two minima. A bucket whose packets all
      // came late (a burst after a stall) is an outlier that a least-squares fit would follow.
      const slopes: number[] = [];
      for (let i = 0; i < points.length; i++) {
        for (let j = i + 1; j < points.length; j++) {
          const span = points[j].mediaMs - points[i].mediaMs;
          if (span > 0) slopes.push((points[j].offsetMs - points[i].offsetMs) / span);
        }
      }
      if (slopes.length > 0) {
        slopes.sort((a, b) => a - b);
        this.slope = Math.max(-this.maxSlope, Math.min(this.maxSlope, slopes[slopes.length >> 1]));
      }
    }
    let lowest = points[0];
    for (const point of points) {
      if (point.offsetMs - this.slope * point.mediaMs < lowest.offsetMs - this.slope * lowest.mediaMs) lowest = point;
    }
    this.anchor = { ...lowest };
  }
}
