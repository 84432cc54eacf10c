/**
 * An in-place radix-2 complex FFT on split real/imaginary Float64Arrays, with the bit-reversal
 * order and twiddle factors computed once per size. Used for fast convolution (the room
 * simulator's echo path) and correlation (the acoustic self-test), where direct sums over
 * thousands of taps would cost seconds per second of audio.
 */
export class Fft {
  readonly size: number;
  private readonly reversed: Uint32Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0) throw new RangeError(`FFT size must be a power of two, got ${size}`);
    this.size = size;
    const bits = Math.log2(size);
    this.reversed = new Uint32Array(size);
    for (let i = 0; i < size; i += 1) {
      let r = 0;
      for (let b = 0; b < bits; b += 1) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.reversed[i] = r;
    }
    this.cos = new Float64Array(size / 2);
    this.sin = new Float64Array(size / 2);
    for (let i = 0; i < size / 2; i += 1) {
      this.cos[i] = Math.cos((2 * Math.PI * i) / size);
      this.sin[i] = Math.sin((2 * Math.PI * i) / size);
    }
  }

  /** Forward transform (e^-i), in place. */
  forward(re: Float64Array, im: Float64Array): void {
    this.transform(re, im, -1);
  }

  /** Inverse transform (e^+i), in place, scaled by 1/size so that inverse(forward(x)) = x. */
  inverse(re: Float64Array, im: Float64Array): void {
    this.transform(re, im, 1);
    const scale = 1 / this.size;
    for (let i = 0; i < this.size; i += 1) {
      re[i] *= scale;
      im[i] *= scale;
    }
  }

  private transform(re: Float64Array, im: Float64Array, sign: 1 | -1): void {
    const n = this.size;
    if (re.length !== n || im.length !== n) throw new RangeError(`FFT of size ${n} given arrays of ${re.length} and ${im.length}`);
    for (let i = 0; i < n; i += 1) {
      const j = this.reversed[i];
      if (j > i) {
        let swap = re[i];
        re[i] = re[j];
        re[j] = swap;
        swap = im[i];
        im[i] = im[j];
        im[j] = swap;
      }
    }
    for (let half = 1; half < n; half *= 2) {
      const step = n / (2 * half);
      for (let start = 0; start < n; start += 2 * half) {
        for (let k = 0; k < half; k += 1) {
          const wr = this.cos[k * step];
          const wi = sign * this.sin[k * step];
          const a = start + k;
          const b = a + half;
          const xr = re[b] * wr - im[b] * wi;
          const xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr;
          im[b] = im[a] - xi;
          re[a] += xr;
          im[a] += xi;
        }
      }
    }
  }
}

/** The smallest power of two >= n. */
export function nextPowerOfTwo(n: number): number {
  let size = 1;
  while (size < n) size *= 2;
  return size;
}

/**
 * Cross-correlation of `signal` against `pattern` for lags 0..maxLag (signal delayed by `lag`
 * relative to pattern): result[lag] = sum_i pattern[i] * signal[i + lag].
 */
export function crossCorrelate(pattern: ArrayLike<number>, signal: ArrayLike<number>, maxLag: number): Float64Array {
  const size = nextPowerOfTwo(Math.max(pattern.length, signal.length) + maxLag + 1);
  const fft = new Fft(size);
  const aRe = new Float64Array(size);
  const aIm = new Float64Array(size);
  const bRe = new Float64Array(size);
  const bIm = new Float64Array(size);
  for (let i = 0; i < pattern.length; i += 1) aRe[i] = pattern[i];
  for (let i = 0; i < signal.length; i += 1) bRe[i] = signal[i];
  fft.forward(aRe, aIm);
  fft.forward(bRe, bIm);
  // conj(A) * B
  for (let i = 0; i < size; i += 1) {
    const re = aRe[i] * bRe[i] + aIm[i] * bIm[i];
    const im = aRe[i] * bIm[i] - aIm[i] * bRe[i];
    aRe[i] = re;
    aIm[i] = im;
  }
  fft.inverse(aRe, aIm);
  return aRe.slice(0, maxLag + 1);
}
