/** A first-in first-out queue of PCM samples, so variable-length output can be re-chunked. */
export class PcmFifo {
  private buffer: Int16Array;
  private start = 0;
  private end = 0;

  constructor(initialCapacity = 4096) {
    this.buffer = new Int16Array(initialCapacity);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The newest sample, or 0 when empty. */
  get last(): number {
    return this.end > this.start ? this.buffer[this.end - 1] : 0;
  }

  push(samples: Int16Array): void {
    if (this.end + samples.length > this.buffer.length) {
      const length = this.length;
      if (length + samples.length > this.buffer.length) {
        const grown = new Int16Array(Math.max(this.buffer.length * 2, length + samples.length));
        grown.set(this.buffer.subarray(this.start, this.end));
        this.buffer = grown;
      } else {
        this.buffer.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = length;
    }
    this.buffer.set(samples, this.end);
    this.end += samples.length;
  }

  /** Removes and returns exactly `count` samples; requires count <= length. */
  take(count: number): Int16Array {
    if (count > this.length) throw new RangeError(`take(${count}) from a FIFO of ${this.length}`);
    const out = this.buffer.slice(this.start, this.start + count);
    this.start += count;
    if (this.start === this.end) this.start = this.end = 0;
    return out;
  }
}
