/**
 * Estimates how fast a clock runs relative to the local clock, in parts per million, from pairs of
 * (media time on that clock, local time). Network and scheduling delays only ever add lateness, so
 * the estimate follows the lower envelope: the earliest event in each one-second bucket of media
 * time, then a least-squares line through those minima over a long window (default 10 minutes),
 * which averages out the rest of the jitter.
 */
export class DriftEstimator {
  private readonly buckets: { mediaMs: number; offsetMs: number }[] = [];

  constructor(
    private readonly windowMs = 600_000,
    private readonly bucketMs = 1000,
    /** Needs this much media time before it reports anything but 0. */
    private readonly minimumSpanMs = 20_000,
  ) {}

  /** `mediaMs`: the event's position on the remote (or device) clock; `localMs`: when it happened here. */
  add(mediaMs: number, localMs: number): void {
    const offsetMs = localMs - mediaMs;
    const bucketStart = Math.floor(mediaMs / this.bucketMs) * this.bucketMs;
    const last = this.buckets[this.buckets.length - 1];
    if (last && Math.floor(last.mediaMs / this.bucketMs) * this.bucketMs === bucketStart) {
      if (offsetMs < last.offsetMs) {
        last.offsetMs = offsetMs;
        last.mediaMs = mediaMs;
      }
      return;
    }
    if (last && mediaMs < last.mediaMs) return; // reordered into an older bucket: ignore
    this.buckets.push({ mediaMs, offsetMs });
    while (this.buckets.length > 0 && this.buckets[0].mediaMs < mediaMs - this.windowMs) this.buckets.shift();
  }

  /** Positive when the remote clock runs fast (delivers more media per local second than nominal). */
  get ppm(): number {
    const n = this.buckets.length;
    if (n < 3 || this.buckets[n - 1].mediaMs - this.buckets[0].mediaMs < this.minimumSpanMs) return 0;
    const origin = this.buckets[0];
    let sumX = 0;
    let sumY = 0;
    for (const bucket of this.buckets) {
      sumX += bucket.mediaMs - origin.mediaMs;
      sumY += bucket.offsetMs - origin.offsetMs;
    }
    const meanX = sumX / n;
    const meanY = sumY / n;
    let covariance = 0;
    let variance = 0;
    for (const bucket of this.buckets) {
      const x = bucket.mediaMs - origin.mediaMs - meanX;
      covariance += x * (bucket.offsetMs - origin.offsetMs - meanY);
      variance += x * x;
    }
    if (variance === 0) return 0;
    // offset = local - media grows by (local rate / remote rate - 1) per media ms.
    const slope = covariance / variance;
    return -slope * 1e6;
  }

  reset(): void {
    this.buckets.length = 0;
  }
}
