/** RFC 3550 A.1: a sequence jump of more than this many packets ahead, or ... */
export const MAX_DROPOUT = 3000;
/** ... more than this many behind, is only believed when the next packet continues it. */
export const MAX_MISORDER = 100;

/**
 * Extends a wrapping counter (16-bit RTP sequence, 32-bit RTP timestamp) into a monotonic number,
 * so ordering and differences work across the wrap. A value is taken to be the one nearest to the
 * newest value seen so far (within half the range); older values (reordered packets) are mapped
 * without moving the reference. Extended values stay exact: 2^32 wraps of a 32-bit counter still
 * fit in a double's 53-bit mantissa.
 */
export class WrapUnwrapper {
  private readonly range: number;
  private readonly half: number;
  private newest: number | null = null;

  constructor(bits: 16 | 32) {
    this.range = 2 ** bits;
    this.half = this.range / 2;
  }

  /** Extends `value` and, if it is the newest so far, makes it the new reference. */
  unwrap(value: number): number {
    const extended = this.extend(value);
    if (this.newest === null || extended > this.newest) this.newest = extended;
    return extended;
  }

  /** The newest extended value so far (the reference), or null before the first. */
  get newestValue(): number | null {
    return this.newest;
  }

  /** Extends `value` without moving the reference (for values that may yet be rejected). */
  extend(value: number): number {
    const wrapped = ((value % this.range) + this.range) % this.range;
    // Start one range up, so a packet slightly older than the first one still extends to >= 0.
    if (this.newest === null) return wrapped + this.range;
    let difference = wrapped - (this.newest % this.range);
    if (difference >= this.half) difference -= this.range;
    else if (difference < -this.half) difference += this.range;
    return this.newest + difference;
  }

  reset(): void {
    this.newest = null;
  }
}
