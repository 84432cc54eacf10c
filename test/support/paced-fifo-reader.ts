import { readSync } from 'node:fs';

/**
 * Reads a virtual speaker's FIFO at a sound card's rate: each drain may take what the time since
 * the last one allows, and a reader that found nothing catches up by at most `maxCatchUpMs`, like
 * a device that underran. Shared by the virtual ALSA harness and the load test's lean sound cards.
 */
export class PacedFifoReader {
  private bytesAllowed = 0;
  private lastBudgetAt: number | undefined;
  private readonly scratch: Buffer;

  constructor(
    private readonly bytesPerMs: number,
    private readonly maxCatchUpMs: number,
    scratchBytes: number,
  ) {
    this.scratch = Buffer.alloc(scratchBytes);
  }

  /** Forgets the time that passed (a stalled device resumes without a burst). */
  restart(): void {
    this.lastBudgetAt = undefined;
  }

  /** Reads what the budget at `now` allows from the non-blocking `fd`, handing each chunk to `onBytes`. */
  drain(fd: number, now: number, onBytes: (bytes: Buffer) => void): void {
    if (this.lastBudgetAt === undefined) this.lastBudgetAt = now;
    this.bytesAllowed = Math.min(this.bytesAllowed + (now - this.lastBudgetAt) * this.bytesPerMs, this.maxCatchUpMs * this.bytesPerMs);
    this.lastBudgetAt = now;
    let want = Math.floor(this.bytesAllowed);
    while (want > 0) {
      let got: number;
      try {
        got = readSync(fd, this.scratch, 0, Math.min(want, this.scratch.length), null);
      } catch (error) {
        if (isWouldBlock(error)) break;
        throw error;
      }
      if (got <= 0) break;
      this.bytesAllowed -= got;
      want -= got;
      onBytes(this.scratch.subarray(0, got));
    }
  }
}

export function isWouldBlock(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'EAGAIN';
}
