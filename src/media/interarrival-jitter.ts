/**
 * RFC 3550 section 6.4.1 / A.8 interarrival jitter: a running mean of |D|, where D compares the
 * spacing of two consecutive arrivals with the spacing of their RTP timestamps, smoothed by 1/16.
 */
export class InterarrivalJitter {
  private previousTransit: number | null = null;
  private jitterSamples = 0;

  constructor(private readonly sampleRate: number) {}

  /** `extendedTimestamp` is the unwrapped RTP timestamp; arrival time in milliseconds. */
  update(arrivalMs: number, extendedTimestamp: number): void {
    const transit = (arrivalMs * this.sampleRate) / 1000 - extendedTimestamp;
    if (this.previousTransit !== null) {
      const difference = Math.abs(transit - this.previousTransit);
      this.jitterSamples += (difference - this.jitterSamples) / 16;
    }
    this.previousTransit = transit;
  }

  get jitterMs(): number {
    return (this.jitterSamples * 1000) / this.sampleRate;
  }

  /** A new stream has unrelated timestamps; the next packet starts a new difference chain. */
  restartStream(): void {
    this.previousTransit = null;
  }
}
