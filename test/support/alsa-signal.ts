/**
 * Test signals for audio round trips, and finding them again in what came out.
 */

/**
 * A signal no stretch of silence or of another copy can be confused with: a chirp from
 * 300 Hz to 3 kHz plus a deterministic pseudo-random component (seeded), at about -12 dBFS.
 */
export function testSignal(samples: number, seed = 1, sampleRate = 48_000): Int16Array {
  const signal = new Int16Array(samples);
  let state = (seed * 2_654_435_761) >>> 0 || 1;
  const duration = samples / sampleRate;
  for (let index = 0; index < samples; index += 1) {
    const t = index / sampleRate;
    const frequency = 300 + (2_700 * t) / Math.max(duration, 1e-9);
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const noise = ((state & 0xffff) - 0x8000) / 0x8000;
    signal[index] = Math.round(6_000 * Math.sin(2 * Math.PI * frequency * t) + 2_000 * noise) || 1;
  }
  return signal;
}

export interface FindSignalOptions {
  /** Start searching at this index of the haystack. */
  from?: number;
  /** Largest per-sample difference still counted as equal (0: bit-exact). */
  tolerance?: number;
}

/** Index of the first place `needle` occurs in `haystack`, or -1. */
export function findSignal(haystack: Int16Array, needle: Int16Array, options: FindSignalOptions = {}): number {
  const tolerance = options.tolerance ?? 0;
  if (needle.length === 0) return options.from ?? 0;
  const last = haystack.length - needle.length;
  for (let start = Math.max(0, options.from ?? 0); start <= last; start += 1) {
    let matches = true;
    for (let offset = 0; offset < needle.length; offset += 1) {
      if (Math.abs(haystack[start + offset] - needle[offset]) > tolerance) {
        matches = false;
        break;
      }
    }
    if (matches) return start;
  }
  return -1;
}

/**
 * Where `needle` best matches `haystack` within [from, to), by normalised cross-correlation (1 =
 * the same shape at any level), for signals that may have been altered (a codec, a fade): a
 * coarse pass every 4 lags on every 2nd sample, then every lag around the best.
 */
export function locateSignal(haystack: Int16Array, needle: Int16Array, from = 0, to = haystack.length): { index: number; score: number } {
  const last = Math.min(to, haystack.length - needle.length);
  const score = (lag: number, stride: number) => {
    let dot = 0;
    let energy = 0;
    let reference = 0;
    for (let i = 0; i < needle.length; i += stride) {
      const y = haystack[lag + i];
      dot += needle[i] * y;
      energy += y * y;
      reference += needle[i] * needle[i];
    }
    return energy === 0 || reference === 0 ? 0 : dot / Math.sqrt(reference * energy);
  };
  let best = { index: -1, score: 0 };
  for (let lag = Math.max(0, from); lag <= last; lag += 4) {
    const value = score(lag, 2);
    if (value > best.score) best = { index: lag, score: value };
  }
  if (best.index < 0) return best;
  const around = best.index;
  best = { index: around, score: score(around, 1) };
  for (let lag = Math.max(0, around - 4); lag <= Math.min(last, around + 4); lag += 1) {
    const value = score(lag, 1);
    if (value > best.score) best = { index: lag, score: value };
  }
  return best;
}

/** Concatenates PCM frames. */
export function concatPcm(frames: readonly Int16Array[]): Int16Array {
  const total = frames.reduce((sum, frame) => sum + frame.length, 0);
  const joined = new Int16Array(total);
  let offset = 0;
  for (const frame of frames) {
    joined.set(frame, offset);
    offset += frame.length;
  }
  return joined;
}
