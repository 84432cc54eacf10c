import Type, { type Static } from 'typebox';
import { CaptureProcessor, DEFAULT_CAPTURE_PROCESSING, type CaptureProcessingSettings } from '../audio-processing/capture-processor.js';
import { Fft, nextPowerOfTwo } from '../signal/fft.js';
import { SAMPLE_RATE, type SelfTestSignal } from './selftest-signal.js';

/**
 * The acoustic self-test's verdict from one recording: the unit played selfTestSignal() through
 * its speaker and recorded its microphone. `reference[i]` is what left the speaker when `mic[i]`
 * was taken (the full-duplex engine hands exactly these pairs; a recording made with separately
 * started streams gives a delay that includes the devices' buffers).
 *
 * The echo path's impulse response comes from deconvolving the mic by the reference (regularised
 * division of spectra); its strongest tap is the direct sound (the delay), its energy the
 * coupling (echo power over speaker power, the room simulator's definition), and its acausal
 * half, which only noise can fill, tells whether the speaker was heard at all. The same pairs
 * then go through the capture processing as a call would, to see the echo canceller converge.
 */
export interface SelfTestRecording {
  signal: SelfTestSignal;
  reference: Int16Array;
  mic: Int16Array;
}

/**
 * The self-test's verdict: GET/POST /api/selftest, the status and `intercom selftest --json` give
 * it as it is. This schema is its only definition (the type below is derived from it), so the API
 * documents and checks exactly what the analysis returns.
 */
export const SelfTestReportSchema = Type.Object(
  {
    speakerHeard: Type.Boolean({ description: "the speaker's sound reached the microphone (the echo path was found well above the noise)" }),
    microphoneLive: Type.Boolean({ description: 'the microphone delivers a signal at all (a dead one gives digital silence or a constant)' }),
    microphoneClipped: Type.Boolean({ description: 'samples at full scale in the recording: the microphone gain is too high' }),
    echoDelayMs: Type.Union([Type.Number(), Type.Null()], { description: 'delay of the direct sound from speaker to microphone, ms (null: the speaker was not heard)' }),
    couplingDb: Type.Union([Type.Number(), Type.Null()], { description: 'echo power at the microphone over the power sent to the speaker, dB (null: not heard)' }),
    echoToNoiseDb: Type.Number({ description: "how far the echo path stands above the measurement's noise, dB" }),
    noiseFloorDbfs: Type.Union([Type.Number(), Type.Null()], { description: "the microphone's level with the speaker silent, dBFS (null: digital silence)" }),
    cancellerConverged: Type.Union([Type.Boolean(), Type.Null()], { description: 'the echo canceller converged on this echo path (null: there was no echo to cancel)' }),
    cancellerErleDb: Type.Union([Type.Number(), Type.Null()], { description: "the canceller's echo return loss enhancement at the end of the noise, dB (null: no echo to cancel)" }),
    problems: Type.Array(Type.String(), { description: 'what an installer should do, in words; empty when all is well' }),
  },
  { description: 'the acoustic self-test: speaker, microphone, echo path and echo canceller' },
);

export type SelfTestReport = Static<typeof SelfTestReportSchema>;

/** Longest echo path looked at (delay plus reverberation), ms. */
const IMPULSE_RESPONSE_MS = 500;
/** The direct sound is looked for within this delay, ms. */
const MAX_DELAY_MS = 200;
/** The echo path must stand this far above the deconvolution noise to count as heard. */
const HEARD_ABOVE_NOISE_DB = 20;
/** A microphone whose signal varies by less than this (in 16-bit steps) is dead. */
const DEAD_MIC_SPREAD = 2;

export function analyseSelfTest(recording: SelfTestRecording, processing: CaptureProcessingSettings = DEFAULT_CAPTURE_PROCESSING): SelfTestReport {
  const { signal, reference, mic } = recording;
  if (reference.length !== mic.length) throw new RangeError(`reference (${reference.length}) and mic (${mic.length}) must be equally long`);
  if (mic.length < signal.samples.length) throw new RangeError(`the recording (${mic.length} samples) is shorter than the test signal (${signal.samples.length})`);
  const problems: string[] = [];

  let min = Infinity;
  let max = -Infinity;
  let fullScale = 0;
  for (const value of mic) {
    if (value < min) min = value;
    if (value > max) max = value;
    if (value >= 32767 || value <= -32768) fullScale += 1;
  }
  const microphoneLive = max - min >= DEAD_MIC_SPREAD;
  const microphoneClipped = fullScale > 0;
  // Skip the first 100 ms of the quiet part: devices settle.
  const quietFrom = signal.quiet.start + Math.round(0.1 * SAMPLE_RATE);
  const noiseFloorDbfs = microphoneLive ? levelDbfs(mic.subarray(quietFrom, signal.quiet.start + signal.quiet.length)) : null;

  const response = impulseResponse(reference, mic);
  const delayLimit = Math.round((MAX_DELAY_MS * SAMPLE_RATE) / 1000);
  let peak = 0;
  let peakIndex = 0;
  for (let i = 0; i <= delayLimit; i += 1) {
    if (Math.abs(response.causal[i]) > peak) {
      peak = Math.abs(response.causal[i]);
      peakIndex = i;
    }
  }
  let noisePower = 0;
  for (const value of response.acausal) noisePower += value * value;
  noisePower /= Math.max(1, response.acausal.length);
  // Both floored: digital silence (no echo, no noise) stands 0 dB above its noise, a finite figure for JSON.
  const echoToNoiseDb = 10 * Math.log10(Math.max(peak * peak, 1e-30) / Math.max(noisePower, 1e-30));
  const speakerHeard = microphoneLive && echoToNoiseDb >= HEARD_ABOVE_NOISE_DB;
  let couplingDb: number | null = null;
  if (speakerHeard) {
    let energy = 0;
    for (const value of response.causal) energy += value * value - noisePower;
    couplingDb = 10 * Math.log10(Math.max(energy, 1e-12));
  }

  let cancellerConverged: boolean | null = null;
  let cancellerErleDb: number | null = null;
  if (speakerHeard) {
    const processor = new CaptureProcessor({ ...processing, enabled: true, echoCancellation: true });
    try {
      const frame = 960;
      const end = signal.noise.start + signal.noise.length;
      for (let start = 0; start + frame <= end; start += frame) processor.process(mic.subarray(start, start + frame), reference.subarray(start, start + frame));
      const figures = processor.figures();
      cancellerErleDb = figures.erleDb;
      cancellerConverged = figures.converged;
    } finally {
      processor.close();
    }
  }

  if (!microphoneLive) problems.push('the microphone delivers no signal: check that it is plugged in and not muted in the sound card\'s mixer');
  else if (!speakerHeard) problems.push('the microphone did not hear the speaker: check the speaker\'s connection and the volume');
  if (microphoneClipped) problems.push('the microphone clipped: turn its gain down');
  if (noiseFloorDbfs !== null && noiseFloorDbfs > -45) problems.push(`the microphone hears a lot of noise (${noiseFloorDbfs.toFixed(0)} dBFS with the speaker silent)`);
  if (couplingDb !== null && couplingDb > 0) problems.push(`the speaker reaches the microphone louder than it is played (${couplingDb.toFixed(0)} dB): lower the volume or the microphone gain, or part them further`);
  if (cancellerConverged === false) problems.push('the echo canceller did not converge on this echo path (a rattling or distorting speaker, or a long echo tail)');

  return {
    speakerHeard,
    microphoneLive,
    microphoneClipped,
    echoDelayMs: speakerHeard ? (peakIndex * 1000) / SAMPLE_RATE : null,
    couplingDb,
    echoToNoiseDb,
    noiseFloorDbfs,
    cancellerConverged,
    cancellerErleDb,
    problems,
  };
}

/**
 * h = IFFT(M conj(R) / (|R|^2 + floor)): causal taps 0..IMPULSE_RESPONSE_MS, and as many taps
 * of negative delay (the far end of the circular result), where only noise can be.
 */
function impulseResponse(reference: Int16Array, mic: Int16Array): { causal: Float64Array; acausal: Float64Array } {
  const taps = Math.round((IMPULSE_RESPONSE_MS * SAMPLE_RATE) / 1000);
  const size = nextPowerOfTwo(mic.length + taps);
  const fft = new Fft(size);
  const rRe = new Float64Array(size);
  const rIm = new Float64Array(size);
  const mRe = new Float64Array(size);
  const mIm = new Float64Array(size);
  for (let i = 0; i < reference.length; i += 1) rRe[i] = reference[i];
  for (let i = 0; i < mic.length; i += 1) mRe[i] = mic[i];
  fft.forward(rRe, rIm);
  fft.forward(mRe, mIm);
  let meanPower = 0;
  for (let k = 0; k < size; k += 1) meanPower += rRe[k] * rRe[k] + rIm[k] * rIm[k];
  meanPower /= size;
  // Where the reference has (next to) no energy the division would amplify noise: regularise at -40 dB of its mean.
  const floor = meanPower * 1e-4;
  for (let k = 0; k < size; k += 1) {
    const power = rRe[k] * rRe[k] + rIm[k] * rIm[k];
    const re = (mRe[k] * rRe[k] + mIm[k] * rIm[k]) / (power + floor);
    const im = (mIm[k] * rRe[k] - mRe[k] * rIm[k]) / (power + floor);
    mRe[k] = re;
    mIm[k] = im;
  }
  fft.inverse(mRe, mIm);
  return { causal: mRe.slice(0, taps), acausal: mRe.slice(size - taps) };
}

function levelDbfs(samples: Int16Array): number | null {
  if (samples.length === 0) return null;
  let energy = 0;
  for (const value of samples) energy += value * value;
  return energy === 0 ? null : 10 * Math.log10(energy / samples.length / 32768 ** 2);
}
