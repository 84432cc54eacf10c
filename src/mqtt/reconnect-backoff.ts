/**
 * Delays between connection attempts: `minMs`, doubling up to `maxMs`, each stretched by up to a
 * quarter at random so that the units of a site do not all knock at once when the broker returns.
 * A successful connection starts over at `minMs`.
 */
export class ReconnectBackoff {
  private failures = 0;

  constructor(
    private readonly minMs = 1000,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(base * (1 + this.random() / 4));
  }

  reset(): void {
    this.failures = 0;
  }
}
