import { Fft } from '../../../src/signal/fft.js';

/**
 * Streaming convolution with a long filter (uniformly partitioned overlap-save; blocks of a power
 * of two samples): the filter is
 * cut into partitions of `blockSamples`, each held as a spectrum; every input block's spectrum is
 * multiplied with all of them against the history. Output block k covers the same samples as
 * input block k, so there is no latency beyond the blocking itself. A 400 ms room response at
 * 48 kHz (19,200 taps) costs ~300 operations per sample instead of 19,200.
 *
 * The filter may be replaced between blocks (an echo path that changes mid-call): the history
 * is kept, so the output switches to the new path at the block boundary, as a real room would.
 */
export class PartitionedConvolver {
  private readonly fft: Fft;
  private partitionsRe: Float64Array[] = [];
  private partitionsIm: Float64Array[] = [];
  /** Spectra of the last inputs, newest first (a ring indexed from `newest`). */
  private readonly historyRe: Float64Array[] = [];
  private readonly historyIm: Float64Array[] = [];
  private newest = 0;
  private readonly previousBlock: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly accRe: Float64Array;
  private readonly accIm: Float64Array;
  private readonly pending: Float64Array;
  private pendingCount = 0;

  constructor(
    readonly blockSamples: number,
    private readonly maxTaps: number,
    taps: ArrayLike<number>,
  ) {
    const size = blockSamples * 2;
    this.fft = new Fft(size);
    this.previousBlock = new Float64Array(blockSamples);
    this.re = new Float64Array(size);
    this.im = new Float64Array(size);
    this.accRe = new Float64Array(size);
    this.accIm = new Float64Array(size);
    this.pending = new Float64Array(blockSamples);
    const partitions = Math.ceil(maxTaps / blockSamples);
    for (let p = 0; p < partitions; p += 1) {
      this.historyRe.push(new Float64Array(size));
      this.historyIm.push(new Float64Array(size));
    }
    this.setTaps(taps);
  }

  /** Replaces the filter (at most `maxTaps` long) from the next block on. */
  setTaps(taps: ArrayLike<number>): void {
    if (taps.length > this.maxTaps) throw new RangeError(`filter of ${taps.length} taps exceeds the convolver's ${this.maxTaps}`);
    const size = this.blockSamples * 2;
    const partitions = this.historyRe.length;
    this.partitionsRe = [];
    this.partitionsIm = [];
    for (let p = 0; p < partitions; p += 1) {
      const re = new Float64Array(size);
      const im = new Float64Array(size);
      for (let i = 0; i < this.blockSamples; i += 1) re[i] = taps[p * this.blockSamples + i] ?? 0;
      this.fft.forward(re, im);
      this.partitionsRe.push(re);
      this.partitionsIm.push(im);
    }
  }

  /** Convolves exactly one block of input and returns the block of output for the same samples. */
  processBlock(input: ArrayLike<number>, output: Float64Array): void {
    const n = this.blockSamples;
    const size = 2 * n;
    const { re, im } = this;
    re.set(this.previousBlock, 0);
    for (let i = 0; i < n; i += 1) {
      re[n + i] = input[i];
      this.previousBlock[i] = input[i];
    }
    im.fill(0);
    this.fft.forward(re, im);
    const partitions = this.historyRe.length;
    this.newest = (this.newest + partitions - 1) % partitions;
    this.historyRe[this.newest].set(re);
    this.historyIm[this.newest].set(im);
    const { accRe, accIm } = this;
    accRe.fill(0);
    accIm.fill(0);
    for (let p = 0; p < partitions; p += 1) {
      const xRe = this.historyRe[(this.newest + p) % partitions];
      const xIm = this.historyIm[(this.newest + p) % partitions];
      const hRe = this.partitionsRe[p];
      const hIm = this.partitionsIm[p];
      for (let k = 0; k < size; k += 1) {
        accRe[k] += xRe[k] * hRe[k] - xIm[k] * hIm[k];
        accIm[k] += xRe[k] * hIm[k] + xIm[k] * hRe[k];
      }
    }
    this.fft.inverse(accRe, accIm);
    for (let i = 0; i < n; i += 1) output[i] = accRe[n + i];
  }

  /**
   * Streaming in chunks of any size: returns the output for every whole block completed so far
   * (so up to blockSamples - 1 samples of input may wait for the next call).
   */
  push(input: ArrayLike<number>): Float64Array {
    const n = this.blockSamples;
    const blocks = Math.floor((this.pendingCount + input.length) / n);
    const output = new Float64Array(blocks * n);
    let produced = 0;
    const block = new Float64Array(n);
    for (let i = 0; i < input.length; i += 1) {
      this.pending[this.pendingCount] = input[i];
      this.pendingCount += 1;
      if (this.pendingCount === n) {
        this.processBlock(this.pending, block);
        output.set(block, produced);
        produced += n;
        this.pendingCount = 0;
      }
    }
    return output;
  }
}
