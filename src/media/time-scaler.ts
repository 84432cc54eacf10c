import { SAMPLE_RATE } from '../codec/codec.js';
import { clampSample, findPitchPeriod, rms } from './pitch.js';

/**
 * Changes the length of one decoded frame without changing its pitch, so the playout delay can
 * move without audible glitches (the WSOLA-style accelerate / preemptive expand of NetEq):
 *
 * - accelerate removes one pitch period: the two periods at the start of the frame are replaced by
 *   a cross-fade from the first into the second;
 * - expand inserts one: after the first period comes a cross-fade from the second period back
 *   into the first, and then the frame continues with its second period, so one cycle plays twice.
 *
 * Both leave the first and the last sample of the frame in place and cross-fade over a whole
 * period, so the waveform stays continuous whatever the signal. How good it sounds depends on how
 * periodic the audio is there, so each call reports the correlation and refuses below a threshold;
 * quiet frames are always accepted (any length works in near-silence).
 */

export const MIN_PITCH_SAMPLES = Math.round(SAMPLE_RATE * 0.0025);
export const MAX_PITCH_SAMPLES = Math.round(SAMPLE_RATE * 0.015);
/** About -40 dBFS: below this a frame counts as a pause. */
export const QUIET_RMS = 330;
/** Shortest stretch changed in a quiet frame; shorter cross-fades would be clicks. */
const MIN_QUIET_SAMPLES = Math.round(SAMPLE_RATE * 0.001);

export interface TimeScaleRequest {
  /** Most samples to remove (accelerate) or insert (expand). */
  maxSamples: number;
  /** Pitch correlation (0..1) required unless the frame is quiet. */
  minCorrelation: number;
}

export interface TimeScaleResult {
  pcm: Int16Array;
  /** Samples removed (negative) or inserted (positive). */
  changedSamples: number;
}

export function accelerate(frame: Int16Array, request: TimeScaleRequest): TimeScaleResult | null {
  const period = choosePeriod(frame, request);
  if (period === null) return null;
  const out = new Int16Array(frame.length - period);
  crossFade(frame, 0, period, period, out, 0);
  out.set(frame.subarray(2 * period), period);
  return { pcm: out, changedSamples: -period };
}

export function expand(frame: Int16Array, request: TimeScaleRequest): TimeScaleResult | null {
  const period = choosePeriod(frame, request);
  if (period === null) return null;
  const out = new Int16Array(frame.length + period);
  out.set(frame.subarray(0, period), 0);
  crossFade(frame, period, 0, period, out, period);
  out.set(frame.subarray(period), 2 * period);
  return { pcm: out, changedSamples: period };
}

/** out[at + i] fades from frame[from + i] to frame[to + i] over `length` samples. */
function crossFade(frame: Int16Array, from: number, to: number, length: number, out: Int16Array, at: number): void {
  const denominator = Math.max(1, length - 1);
  for (let i = 0; i < length; i++) {
    const weight = i / denominator;
    out[at + i] = clampSample(frame[from + i] * (1 - weight) + frame[to + i] * weight);
  }
}

function choosePeriod(frame: Int16Array, request: TimeScaleRequest): number | null {
  const longest = Math.min(request.maxSamples, Math.floor(frame.length / 2));
  if (rms(frame) < QUIET_RMS) {
    // In a pause the exact length does not matter, so take as much as is wanted.
    return longest >= MIN_QUIET_SAMPLES ? longest : null;
  }
  const maxLag = Math.min(longest, MAX_PITCH_SAMPLES);
  if (maxLag < MIN_PITCH_SAMPLES) return null;
  const { period, correlation } = findPitchPeriod(frame, 0, MIN_PITCH_SAMPLES, maxLag);
  return correlation >= request.minCorrelation ? period : null;
}
