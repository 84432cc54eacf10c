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
