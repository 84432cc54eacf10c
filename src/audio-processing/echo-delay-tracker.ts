import { Fft } from '../signal/fft.js';

/**
 * Finds the echo path's bulk delay: how many samples after the speaker plays something its
 * direct sound reaches the mic. The capture processing delays the reference by that much (less
 * a little headroom) before the canceller, so that when the delay jumps mid-call (a device buffer
 * changes size, the unit's playback restarts), the canceller's learnt room response still fits
 * and only the delay line moves; speexdsp alone takes 3-4 s to learn a shifted path again.
 *
 * Method: every quarter second of far-end activity, a generalised cross-correlation with phase
 * transform (GCC-PHAT, which whitens speech so the direct path gives a sharp peak) of the last
 * half second of speaker and mic, at an eighth of the rate (6 kHz, 4096-point FFTs, cheap),
 * over 0-100 ms; then, around that peak, a plain correlation of the pre-emphasised full-rate
 * signals pins it to the sample, since a learnt filter shifted by even one sample at 48 kHz
 * loses most of its cancellation above 1 kHz. A delay is accepted when two estimates in a row
 * agree to the sample, with a clear peak (near-end speech and noise smear it).
 */
export interface EchoDelayTrackerOptions {
  sampleRate: number;
  blockSamples: number;
  /** Longest delay looked for, ms. */
  maxDelayMs: number;
}

const DECIMATION = 8;
const WINDOW_SECONDS = 0.5;
/**
 * How often it estimates: often while nothing is known yet or the caller says the canceller is in
 * trouble (a jumped path must be found fast), seldom otherwise (each estimate costs ~1 ms).
 */
const ESTIMATE_EVERY_SECONDS = { searching: 0.25, urgent: 0.125, settled: 1 } as const;
/** Half a second of the far end must have been active at least this much to estimate. */
const MIN_ACTIVE_SHARE = 0.6;
/** -50 dBFS: a speaker block above this is far-end activity. */
const ACTIVE_POWER = 32768 * 32768 * 1e-5;
/** The GCC-PHAT peak must stand this far above the mean absolute correlation. */
const MIN_PEAK_PROMINENCE = 8;
/** Full-rate refinement: ± this many samples around the coarse estimate, over this long. */
const REFINE_SPAN = DECIMATION + 2;
const REFINE_SECONDS = 0.125;
/** A new delay replaces the accepted one only when it differs by more than this (samples): the canceller absorbs less, and a delay that sits between two samples would otherwise flip. */
const HYSTERESIS_SAMPLES = 2;

export class EchoDelayTracker {
  private readonly fft: Fft;
  private readonly window: number;
  private readonly maxLag: number;
  private readonly history: number;
  /** Full-rate histories, newest at `written - 1` (ring buffers). */
  private readonly reference: Float64Array;
  private readonly mic: Float64Array;
  private written = 0;
  private readonly activity: boolean[] = [];
  private blocksSinceEstimate = 0;
  private readonly blockSeconds: number;
  private candidate: number | undefined;
  private acceptedDelay: number | undefined;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly re2: Float64Array;
  private readonly im2: Float64Array;
  /** Estimates made, and of those the ones with a clear peak (for the status and tests). */
  estimates = 0;
  clearEstimates = 0;

  constructor(private readonly options: EchoDelayTrackerOptions) {
    this.window = Math.round((WINDOW_SECONDS * options.sampleRate) / DECIMATION);
    this.maxLag = Math.round((options.maxDelayMs * options.sampleRate) / 1000 / DECIMATION);
    let size = 1;
    while (size < this.window + this.maxLag) size *= 2;
    this.fft = new Fft(size);
    this.re = new Float64Array(size);
    this.im = new Float64Array(size);
    this.re2 = new Float64Array(size);
    this.im2 = new Float64Array(size);
    this.history = (this.window + this.maxLag) * DECIMATION + REFINE_SPAN * 2;
    this.reference = new Float64Array(this.history);
    this.mic = new Float64Array(this.history);
    this.blockSeconds = options.blockSamples / options.sampleRate;
  }

  /** The accepted delay in samples, or undefined until one is known. */
  get delaySamples(): number | undefined {
    return this.acceptedDelay;
  }

  /**
   * Takes one block of what the speaker played and what the mic took at the same time; now and
   * then re-estimates (often when `urgent`: the canceller leaves far more echo than it did).
   * Returns the accepted delay (samples), which changes only on agreement.
   */
  push(reference: Int16Array, mic: Int16Array, urgent = false): number | undefined {
    let power = 0;
    for (let i = 0; i < reference.length; i += 1) {
      this.reference[(this.written + i) % this.history] = reference[i];
      this.mic[(this.written + i) % this.history] = mic[i];
      power += reference[i] * reference[i];
    }
    this.written += reference.length;
    this.activity.push(power / reference.length > ACTIVE_POWER);
    const windowBlocks = Math.round((WINDOW_SECONDS * this.options.sampleRate) / this.options.blockSamples);
    if (this.activity.length > windowBlocks) this.activity.shift();
    this.blocksSinceEstimate += 1;
    const every = this.acceptedDelay === undefined ? ESTIMATE_EVERY_SECONDS.searching : urgent ? ESTIMATE_EVERY_SECONDS.urgent : ESTIMATE_EVERY_SECONDS.settled;
    if (this.blocksSinceEstimate * this.blockSeconds < every - 1e-9 || this.written < this.history) return this.acceptedDelay;
    this.blocksSinceEstimate = 0;
    const active = this.activity.filter(Boolean).length / this.activity.length;
    if (active < MIN_ACTIVE_SHARE) return this.acceptedDelay;
    const estimate = this.estimate();
    if (estimate === undefined) {
      this.candidate = undefined;
    } else if (this.candidate !== undefined && Math.abs(estimate - this.candidate) <= 1) {
      if (this.acceptedDelay === undefined || Math.abs(estimate - this.acceptedDelay) > HYSTERESIS_SAMPLES) this.acceptedDelay = estimate;
      this.candidate = estimate;
    } else {
      this.candidate = estimate;
    }
    return this.acceptedDelay;
  }

  /** One estimate (samples), or undefined without a clear peak. */
  private estimate(): number | undefined {
    this.estimates += 1;
    const { re, im } = this;
    re.fill(0);
    im.fill(0);
    // Decimated by summing DECIMATION samples: the reference window (maxLag longer, reaching back)
    // in the real part and the mic window in the imaginary part, on one time axis, so that one
    // complex FFT transforms both.
    const end = this.written;
    const micStart = end - this.window * DECIMATION;
    const referenceStart = micStart - this.maxLag * DECIMATION;
    for (let i = 0; i < this.window + this.maxLag; i += 1) re[i] = this.decimated(this.reference, referenceStart + i * DECIMATION);
    for (let i = 0; i < this.window; i += 1) im[this.maxLag + i] = this.decimated(this.mic, micStart + i * DECIMATION);
    this.fft.forward(re, im);
    // Split: R[k] = (Z[k] + conj Z[-k]) / 2, M[k] = (Z[k] - conj Z[-k]) / 2i; then the
    // PHAT-weighted cross spectrum conj(R) M, kept in re2/im2.
    const size = re.length;
    const { re2, im2 } = this;
    for (let k = 0; k < size; k += 1) {
      const j = (size - k) % size;
      const rRe = (re[k] + re[j]) / 2;
      const rIm = (im[k] - im[j]) / 2;
      const mRe = (im[k] + im[j]) / 2;
      const mIm = (re[j] - re[k]) / 2;
      const cr = rRe * mRe + rIm * mIm;
      const ci = rRe * mIm - rIm * mRe;
      const magnitude = Math.sqrt(cr * cr + ci * ci) + 1e-9;
      re2[k] = cr / magnitude;
      im2[k] = ci / magnitude;
    }
    re.set(re2);
    im.set(im2);
    this.fft.inverse(re, im);
    // Both arrays index the same time axis, so a mic that hears the reference d samples late
    // correlates at index d.
    let best = -Infinity;
    let bestDelay = 0;
    let sum = 0;
    for (let d = 0; d <= this.maxLag; d += 1) {
      const value = re[d];
      sum += Math.abs(value);
      if (value > best) {
        best = value;
        bestDelay = d;
      }
    }
    const prominence = best / (sum / (this.maxLag + 1));
    if (!(prominence >= MIN_PEAK_PROMINENCE)) return undefined;
    this.clearEstimates += 1;
    return this.refine(bestDelay * DECIMATION);
  }

  private decimated(ring: Float64Array, start: number): number {
    let sum = 0;
    for (let j = 0; j < DECIMATION; j += 1) sum += ring[(start + j) % this.history];
    return sum;
  }

  /** The full-rate delay near `coarse` with the highest correlation of the pre-emphasised signals. */
  private refine(coarse: number): number {
    const length = Math.round(REFINE_SECONDS * this.options.sampleRate);
    const micStart = this.written - length;
    const low = Math.max(0, coarse - REFINE_SPAN);
    const high = coarse + REFINE_SPAN;
    // Linear, pre-emphasised copies: the mic segment, and the reference from `high` earlier.
    const mic = this.emphasised(this.mic, micStart, length);
    const reference = this.emphasised(this.reference, micStart - high, length + high - low);
    let bestDelay = coarse;
    let best = -Infinity;
    for (let delay = low; delay <= high; delay += 1) {
      const offset = high - delay;
      let dot = 0;
      let energy = 0;
      for (let i = 0; i < length; i += 1) {
        const r = reference[offset + i];
        dot += mic[i] * r;
        energy += r * r;
      }
      const score = energy === 0 ? 0 : dot / Math.sqrt(energy);
      if (score > best) {
        best = score;
        bestDelay = delay;
      }
    }
    return bestDelay;
  }

  /** `length` samples of a ring from absolute index `start`, each minus 0.95 times the one before (flattens speech's spectrum). */
  private emphasised(ring: Float64Array, start: number, length: number): Float64Array {
    const out = new Float64Array(length);
    let previous = ring[(((start - 1) % this.history) + this.history) % this.history];
    let index = ((start % this.history) + this.history) % this.history;
    for (let i = 0; i < length; i += 1) {
      const value = ring[index];
      out[i] = value - 0.95 * previous;
      previous = value;
      index = index + 1 === this.history ? 0 : index + 1;
    }
    return out;
  }

  reset(): void {
    this.written = 0;
    this.activity.length = 0;
    this.blocksSinceEstimate = 0;
    this.candidate = undefined;
    this.acceptedDelay = undefined;
    this.reference.fill(0);
    this.mic.fill(0);
  }
}
