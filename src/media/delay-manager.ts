/**
 * Chooses the playout delay, after the idea of WebRTC NetEq's delay manager: each packet's arrival
 * delay *relative to the fastest recent packet* goes into a histogram whose old entries are slowly
 * forgotten, and the target is a high quantile of it (enough delay that all but ~1% of packets
 * arrive in time).
 *
 * Relative delay: `offset = arrivalMs - mediaMs` (media time = RTP timestamp in ms) is the
 * network delay plus an unknown constant (the two clocks' origins). Its minimum is the fastest
 * path; `offset - minimum` is how late this packet was relative to that path. The minimum is
 * allowed to creep upwards slowly (faster than any real clock drift, ±200 ppm = 0.2 ms/s) so that
 * a slow sender clock, which makes every offset grow, cannot leave it behind.
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
  /** How fast the fastest-path estimate may rise, in ms per second of media. */
  baseCreepMsPerSecond?: number;
}

export class DelayManager {
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly quantile: number;
  private readonly forgetFactor: number;
  private readonly bucketMs: number;
  private readonly creepPerMs: number;
  private readonly histogram: Float64Array;
  private weight = 1;
  private totalWeight = 0;
  private base: number | null = null;
  private newestMediaMs = -Infinity;
  private cachedTarget: number | null = null;

  constructor(options: DelayManagerOptions) {
    this.minMs = options.minMs;
    this.maxMs = Math.max(options.minMs, options.maxMs);
    this.quantile = options.quantile ?? 0.99;
    this.forgetFactor = options.forgetFactor ?? 0.9995;
    this.bucketMs = options.bucketMs ?? 0.25;
    this.creepPerMs = (options.baseCreepMsPerSecond ?? 1) / 1000;
    this.histogram = new Float64Array(Math.ceil(this.maxMs / this.bucketMs) + 1);
  }

  /** Records one arrival; returns its delay relative to the fastest path, in ms. */
  update(arrivalMs: number, mediaMs: number): number {
    const offset = arrivalMs - mediaMs;
    if (this.base === null) {
      this.base = offset;
      this.newestMediaMs = mediaMs;
    } else if (mediaMs > this.newestMediaMs) {
      this.base += (mediaMs - this.newestMediaMs) * this.creepPerMs;
      this.newestMediaMs = mediaMs;
    }
    if (offset < this.base) this.base = offset;
    const relative = offset - this.base;
    this.record(relative);
    return relative;
  }

  /** `arrival - media` of the fastest path: a packet with media time m ideally arrives at m + this. */
  get baseOffsetMs(): number | null {
    return this.base;
  }

  /** Playout delay to aim for (relative to the fastest path), within [minMs, maxMs]. */
  get targetMs(): number {
    this.cachedTarget ??= this.clamp(this.quantileMs(this.quantile));
    return this.cachedTarget;
  }

  private clamp(delayMs: number): number {
    return Math.min(this.maxMs, Math.max(this.minMs, delayMs));
  }

  /**
   * The sender's timeline changed (new stream, or a timestamp jump): forget the fastest-path
   * estimate but keep the histogram, which describes the network, not the sender.
   */
  rebase(): void {
    this.base = null;
    this.newestMediaMs = -Infinity;
  }

  private record(relativeMs: number): void {
    // Lazy forgetting: instead of scaling every bucket down, scale each new entry up.
    this.weight /= this.forgetFactor;
    if (this.weight > 1e100) this.renormalise();
    const index = Math.min(this.histogram.length - 1, Math.floor(relativeMs / this.bucketMs));
    this.histogram[index] += this.weight;
    this.totalWeight += this.weight;
    this.cachedTarget = null;

  }

  private renormalise(): void {
    const scale = 1 / this.weight;
    for (let i = 0; i < this.histogram.length; i++) this.histogram[i] *= scale;
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
