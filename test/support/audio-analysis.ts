/** Measurements tests use to decide whether audio that came out matches what went in. */

/** Power of one frequency in a signal (Goertzel), normalised to the signal's total power (0..1). */
export function toneShare(samples: Int16Array, frequencyHz: number, sampleRate = 48_000): number {
  const omega = (2 * Math.PI * frequencyHz) / sampleRate;
  const coefficient = 2 * Math.cos(omega);
  let previous = 0;
  let beforePrevious = 0;
  let total = 0;
  for (const sample of samples) {
    const current = sample + coefficient * previous - beforePrevious;
    beforePrevious = previous;
    previous = current;
    total += sample * sample;
  }
  const power = previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
  // A pure tone of N samples has Goertzel power N^2 A^2 / 4 and total power N A^2 / 2.
  return total === 0 ? 0 : (2 * power) / (samples.length * total);
}

export function rms(samples: Int16Array): number {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length);
}

/**
 * Finds the lag (in samples, output behind input) at which `output` best matches `reference`,
 * and the normalised correlation there (1 = identical shape). Compares a window of the
 * reference against the output shifted by 0..maxLag, on a decimated copy first for speed.
 */
export function bestAlignment(
  reference: Int16Array,
  output: Int16Array,
  maxLag: number,
  options: { window?: number; start?: number } = {},
): { lag: number; correlation: number } {
  const start = options.start ?? 0;
  const window = Math.min(options.window ?? reference.length - start, reference.length - start);
  const correlateAt = (lag: number, step: number) => {
    let dot = 0;
    let energyRef = 0;
    let energyOut = 0;
    for (let i = start; i < start + window; i += step) {
      const j = i + lag;
      if (j < 0 || j >= output.length) continue;
      dot += reference[i] * output[j];
      energyRef += reference[i] * reference[i];
      energyOut += output[j] * output[j];
    }
    return energyRef === 0 || energyOut === 0 ? 0 : dot / Math.sqrt(energyRef * energyOut);
  };
  let best = { lag: 0, correlation: -Infinity };
  for (let lag = 0; lag <= maxLag; lag += 8) {
    const correlation = correlateAt(lag, 4);
    if (correlation > best.correlation) best = { lag, correlation };
  }
  const coarse = best.lag;
  best = { lag: coarse, correlation: correlateAt(coarse, 1) };
  for (let lag = Math.max(0, coarse - 8); lag <= coarse + 8; lag += 1) {
    const correlation = correlateAt(lag, 1);
    if (correlation > best.correlation) best = { lag, correlation };
  }
  return best;
}

/** Reads raw little-endian 16-bit samples. */
export function samplesFromS16le(bytes: Buffer): Int16Array {
  const samples = new Int16Array(Math.floor(bytes.length / 2));
  for (let i = 0; i < samples.length; i += 1) samples[i] = bytes.readInt16LE(i * 2);
  return samples;
}

/** The data chunk of a 16-bit PCM WAV file. */
export function samplesFromWav(bytes: Buffer): Int16Array {
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (id === 'data') return samplesFromS16le(bytes.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size + (size % 2);
  }
  throw new Error('no data chunk in WAV file');
}

/**
 * A deterministic speech-like test signal: a voiced buzz whose pitch glides like intonation,
 * shaped by moving formant-like resonances and a syllable-rate envelope with pauses.
 */
export function speechLikeSignal(seconds: number, sampleRate = 48_000, seed = 1): Int16Array {
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  let phase = 0;
  for (let i = 0; i < samples.length; i += 1) {
    const t = i / sampleRate;
    const pitch = 120 + 30 * Math.sin(2 * Math.PI * 0.7 * t + seed) + 15 * Math.sin(2 * Math.PI * 2.3 * t);
    phase += (2 * Math.PI * pitch) / sampleRate;
    const formant1 = 500 + 300 * Math.sin(2 * Math.PI * 1.9 * t + seed);
    const formant2 = 1500 + 600 * Math.sin(2 * Math.PI * 1.3 * t + 2 * seed);
    let value = 0;
    for (let harmonic = 1; harmonic <= 25; harmonic += 1) {
      const frequency = harmonic * pitch;
      const weight =
        1 / (1 + ((frequency - formant1) / 150) ** 2) + 0.6 / (1 + ((frequency - formant2) / 250) ** 2) + 0.05;
      value += weight * Math.sin(harmonic * phase);
    }
    // Syllables at ~4 Hz, with a pause every 2 s like between phrases.
    const syllable = Math.max(0, Math.sin(2 * Math.PI * 4 * t)) ** 0.7;
    const phrase = (t % 2) < 1.6 ? 1 : 0;
    samples[i] = Math.max(-32767, Math.min(32767, Math.round(3500 * value * syllable * phrase)));
  }
  return samples;
}
