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
 * and the normalised correlation there (1 = identical shape). A waveform's correlation peak is
 * only a few samples wide, so the search runs in two stages: the energy envelopes (2.5 ms
 * blocks) find the lag to within a block, then every lag around it is tried on the waveform.
 */
export function bestAlignment(
  reference: Int16Array,
  output: Int16Array,
  maxLag: number,
  options: { window?: number; start?: number } = {},
): { lag: number; correlation: number } {
  const start = options.start ?? 0;
  const window = Math.min(options.window ?? reference.length - start, reference.length - start);
  const block = 120;
  const envelope = (signal: Int16Array, from: number, blocks: number) => {
    const result = new Float64Array(blocks);
    for (let b = 0; b < blocks; b += 1) {
      let sum = 0;
      for (let i = from + b * block; i < from + (b + 1) * block && i < signal.length; i += 1) sum += Math.abs(signal[i]);
      result[b] = sum;
    }
    return result;
  };
  const referenceEnvelope = envelope(reference, start, Math.floor(window / block));
  const outputEnvelope = envelope(output, start, Math.floor((window + maxLag) / block) + 1);
  const normalisedDot = (a: ArrayLike<number>, b: ArrayLike<number>, offset: number, length: number) => {
    let dot = 0;
    let energyA = 0;
    let energyB = 0;
    for (let i = 0; i < length; i += 1) {
      const x = a[i];
      const y = b[i + offset] ?? 0;
      dot += x * y;
      energyA += x * x;
      energyB += y * y;
    }
    return energyA === 0 || energyB === 0 ? 0 : dot / Math.sqrt(energyA * energyB);
  };
  // Envelopes are all positive, so remove their means before correlating.
  const centre = (values: Float64Array) => {
    const mean = values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
    return values.map((value) => value - mean);
  };
  const ref = centre(referenceEnvelope);
  const out = centre(outputEnvelope);
  let coarseBlock = 0;
  let coarseBest = -Infinity;
  for (let lagBlocks = 0; lagBlocks * block <= maxLag; lagBlocks += 1) {
    const score = normalisedDot(ref, out, lagBlocks, ref.length);
    if (score > coarseBest) {
      coarseBest = score;
      coarseBlock = lagBlocks;
    }
  }
  const waveform = reference.subarray(start, start + window);
  let best = { lag: 0, correlation: -Infinity };
  for (let lag = Math.max(0, (coarseBlock - 2) * block); lag <= Math.min(maxLag, (coarseBlock + 2) * block); lag += 1) {
    const correlation = normalisedDot(waveform, output.subarray(start), lag, waveform.length);
    if (correlation > best.correlation) best = { lag, correlation };
  }
  return best;
}

/**
 * Compares output with input in 100 ms windows, each at its best lag within ±50 ms of the last
 * clear match (an adaptive buffer may shift the delay a little during a call; ±400 ms when nothing
 * near matches), skipping quiet input; returns the median and 10th-percentile correlation of the
 * windows.
 */
export function windowedCorrelation(input: Int16Array, output: Int16Array, approximateLag: number): { median: number; tenth: number; windows: number } {
  const window = 4_800;
  const correlations: number[] = [];
  // The lag moves while a jitter buffer time-scales (tens of ms over a few seconds): each window
  // is searched ±50 ms around where the last clear match was, starting from the overall lag. A
  // stall of the machine can move it by hundreds of ms at once (a burst after it, or an underrun):
  // a window that matches nothing near is searched ±400 ms, so the track is found again.
  let lag = approximateLag;
  const search = (start: number, piece: Int16Array, reach: number) => {
    const from = Math.max(0, start + lag - reach);
    const best = bestAlignment(piece, output.subarray(from, from + window + 2 * reach), 2 * reach);
    return { lag: from + best.lag - start, correlation: best.correlation };
  };
  for (let start = 0; start + window <= input.length; start += window) {
    const piece = input.subarray(start, start + window);
    if (rms(piece) < 500) continue;
    let best = search(start, piece, 2_400);
    if (best.correlation <= 0.8) {
      const wide = search(start, piece, 19_200);
      if (wide.correlation > best.correlation) best = wide;
    }
    correlations.push(best.correlation);
    if (best.correlation > 0.8) lag = best.lag;
  }
  correlations.sort((a, b) => a - b);
  return {
    median: correlations[Math.floor(correlations.length / 2)] ?? 0,
    tenth: correlations[Math.floor(correlations.length / 10)] ?? 0,
    windows: correlations.length,
  };
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
