/**
 * Pitch-period search by normalised autocorrelation, shared by loss concealment and time-scaling.
 * Speech pitch lies between about 2.5 ms (400 Hz) and 15 ms (67 Hz).
 */

export interface PitchEstimate {
  /** Lag in samples with the best normalised correlation. */
  period: number;
  /** Normalised correlation at that lag, -1..1; near 1 for voiced or tonal signals. */
  correlation: number;
}

/**
 * Finds the lag `period` in [minLag, maxLag] for which `signal[start .. start+period)` best matches
 * `signal[start+period .. start+2*period)`, i.e. the length of one repeating cycle beginning at
 * `start`. Requires start + 2*maxLag <= signal.length. Lags are searched in steps of `step` and then
 * refined around the best one, which keeps the cost low on a Raspberry Pi.
 */
export function findPitchPeriod(
  signal: Int16Array,
  start: number,
  minLag: number,
  maxLag: number,
  step = 2,
): PitchEstimate {
  if (start < 0 || minLag < 1 || maxLag < minLag || start + 2 * maxLag > signal.length) {
    throw new RangeError(`pitch search window [${start}, ${start + 2 * maxLag}) exceeds ${signal.length} samples`);
  }
  return searchLags(minLag, maxLag, step, (lag) => normalisedCorrelation(signal, start, start + lag, lag));
}

/**
 * Like findPitchPeriod, but for the cycle that *ends* at `end`: compares
 * `signal[end-2*lag .. end-lag)` with `signal[end-lag .. end)`. Used to continue a signal past its end.
 */
export function findPitchPeriodEndingAt(
  signal: Int16Array,
  end: number,
  minLag: number,
  maxLag: number,
  step = 2,
): PitchEstimate {
  if (end > signal.length || minLag < 1 || maxLag < minLag || end - 2 * maxLag < 0) {
    throw new RangeError(`pitch search window [${end - 2 * maxLag}, ${end}) exceeds ${signal.length} samples`);
  }
  return searchLags(minLag, maxLag, step, (lag) => normalisedCorrelation(signal, end - 2 * lag, end - lag, lag));
}

function searchLags(minLag: number, maxLag: number, step: number, correlationAt: (lag: number) => number): PitchEstimate {
  let best: PitchEstimate = { period: minLag, correlation: -Infinity };
  const consider = (lag: number): void => {
    const correlation = correlationAt(lag);
    if (correlation > best.correlation) best = { period: lag, correlation };
  };
  for (let lag = minLag; lag <= maxLag; lag += step) consider(lag);
  const coarse = best.period;
  for (let lag = Math.max(minLag, coarse - step + 1); lag <= Math.min(maxLag, coarse + step - 1); lag++) {
    if (lag !== coarse) consider(lag);
  }
  return best;
}

/** Normalised cross-correlation of signal[a .. a+length) and signal[b .. b+length). */
export function normalisedCorrelation(signal: Int16Array, a: number, b: number, length: number): number {
  let cross = 0;
  let energyA = 0;
  let energyB = 0;
  for (let i = 0; i < length; i++) {
    const x = signal[a + i];
    const y = signal[b + i];
    cross += x * y;
    energyA += x * x;
    energyB += y * y;
  }
  if (energyA === 0 || energyB === 0) return energyA === energyB ? 1 : 0;
  return cross / Math.sqrt(energyA * energyB);
}

/** Root-mean-square level of signal[start .. start+length). */
export function rms(signal: Int16Array, start = 0, length = signal.length - start): number {
  if (length <= 0) return 0;
  let energy = 0;
  for (let i = start; i < start + length; i++) energy += signal[i] * signal[i];
  return Math.sqrt(energy / length);
}

export function clampSample(value: number): number {
  return value > 32767 ? 32767 : value < -32768 ? -32768 : Math.round(value);
}
