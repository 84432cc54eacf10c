/**
 * Figures of the hands-free targets, measured on sample arrays: levels, echo return loss
 * enhancement (ITU-T G.168: echo power before / after the canceller), and the envelope
 * correlation of 20 ms frame levels used to judge whether speech survived processing.
 */
const FULL_SCALE = 32768;
export const LEVEL_FRAME = 960; // 20 ms at 48 kHz

type Samples = ArrayLike<number>;

function energy(signal: Samples, from: number, to: number): number {
  let sum = 0;
  for (let i = Math.max(0, from); i < Math.min(to, signal.length); i += 1) sum += signal[i] * signal[i];
  return sum;
}

/** RMS level of signal[from, to) in dBFS (a full-scale square wave is 0 dBFS). */
export function levelDbfs(signal: Samples, from = 0, to = signal.length): number {
  const count = Math.min(to, signal.length) - Math.max(0, from);
  if (count <= 0) return -Infinity;
  return 10 * Math.log10(energy(signal, from, to) / count / FULL_SCALE ** 2);
}

/** Mean power of each 20 ms frame. */
export function framePowers(signal: Samples, frame = LEVEL_FRAME): Float64Array {
  const powers = new Float64Array(Math.floor(signal.length / frame));
  for (let f = 0; f < powers.length; f += 1) powers[f] = energy(signal, f * frame, (f + 1) * frame) / frame;
  return powers;
}

/**
 * Active speech level in dBFS: the mean power of the frames within 40 dB of the loudest (speech
 * pauses and silence do not count), in the spirit of ITU-T P.56.
 */
export function activeLevelDbfs(signal: Samples): number {
  const powers = framePowers(signal);
  const loudest = powers.reduce((max, power) => Math.max(max, power), 0);
  let sum = 0;
  let count = 0;
  for (const power of powers) {
    if (power > loudest * 1e-4) {
      sum += power;
      count += 1;
    }
  }
  return count === 0 ? -Infinity : 10 * Math.log10(sum / count / FULL_SCALE ** 2);
}

/** `signal` scaled so that its active speech level is `dbfs` (as floating-point samples). */
export function atActiveLevel(signal: Samples, dbfs: number): Float64Array {
  const gain = 10 ** ((dbfs - activeLevelDbfs(signal)) / 20);
  // A plain loop: TypedArray.from with a map function took ~0.5 s for 20 s of speech, a stall
  // of the test process that runs the virtual sound cards.
  const out = new Float64Array(signal.length);
  for (let i = 0; i < signal.length; i += 1) out[i] = signal[i] * gain;
  return out;
}

/** Highest absolute sample in dBFS. */
export function peakDbfs(signal: Samples): number {
  let peak = 0;
  for (let i = 0; i < signal.length; i += 1) peak = Math.max(peak, Math.abs(signal[i]));
  return 20 * Math.log10(Math.max(peak, 1e-9) / FULL_SCALE);
}

/** Samples at (or beyond) full scale: a clipped signal has runs of them. */
export function fullScaleSamples(signal: Samples): number {
  let count = 0;
  for (let i = 0; i < signal.length; i += 1) if (signal[i] >= 32767 || signal[i] <= -32768) count += 1;
  return count;
}

/**
 * ERLE in dB over [from, to) of `before` (the echo at the mic): echo power before the processing
 * over what is left of it after, `after` being `lag` samples behind (the processing's own delay).
 */
export function erleDb(before: Samples, after: Samples, from: number, to: number, lag = 0): number {
  const echo = energy(before, from, to);
  const left = energy(after, from + lag, to + lag);
  return 10 * Math.log10(echo / Math.max(left, 1e-9));
}

/**
 * Pearson correlation of the 20 ms frame RMS levels of `reference` and of `output` (`lag` samples
 * behind), over [from, to): 1 when the speech's loudness contour came through unchanged, whatever
 * the overall gain; residual echo, lost syllables or pumping noise lower it.
 */
export function envelopeCorrelation(reference: Samples, output: Samples, options: { lag?: number; from?: number; to?: number } = {}): number {
  const lag = options.lag ?? 0;
  const from = options.from ?? 0;
  const to = Math.min(options.to ?? reference.length, reference.length, output.length - lag);
  const frames = Math.floor((to - from) / LEVEL_FRAME);
  const a = new Float64Array(frames);
  const b = new Float64Array(frames);
  for (let f = 0; f < frames; f += 1) {
    const start = from + f * LEVEL_FRAME;
    a[f] = Math.sqrt(energy(reference, start, start + LEVEL_FRAME) / LEVEL_FRAME);
    b[f] = Math.sqrt(energy(output, start + lag, start + lag + LEVEL_FRAME) / LEVEL_FRAME);
  }
  const mean = (values: Float64Array) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
  const meanA = mean(a);
  const meanB = mean(b);
  let dot = 0;
  let energyA = 0;
  let energyB = 0;
  for (let f = 0; f < frames; f += 1) {
    dot += (a[f] - meanA) * (b[f] - meanB);
    energyA += (a[f] - meanA) ** 2;
    energyB += (b[f] - meanB) ** 2;
  }
  return energyA === 0 || energyB === 0 ? 0 : dot / Math.sqrt(energyA * energyB);
}
