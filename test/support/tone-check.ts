import { rms, toneShare } from './audio-analysis.js';

/**
 * Whether a speaker played a tone, judged over its whole recording, gaps allowed.
 *
 * A tone that went through a starved machine comes out in pieces. The boot test's guest is an emulated (TCG) aarch64 board: it captures slower than real time
 * (about 8 % in runs here) and stalls for tens of ms now and then, so the tone it sends arrives in
 * pieces, late, concealed and time-scaled. Counting long windows of unbroken tone made that
 * direction a coin toss (a gap anywhere in a 100 ms window spoiled it). What emulation can
 * honestly deliver, and what a person on the other end would hear, is the tone present for a good
 * part of the time it was sent: so the recording is cut into short windows (20 ms, a frame), and
 * the windows that clearly carry the tone (loud enough, most of their energy at its frequency) are
 * added up into seconds of tone, wherever they fall.
 */

export const SAMPLE_RATE = 48_000;
/** A frame: long enough for a 440 Hz tone to be told apart (8.8 periods), short enough that a gap spoils little. */
export const WINDOW_SAMPLES = 960;
/** A window counts when at least this share of its energy is at the tone's frequency... */
export const MIN_TONE_SHARE = 0.5;
/**
 * ...and it is at least this loud (RMS). A unit's gain control brings a tone of amplitude 9000
 * (RMS 6364) down to about 2500, and the far speaker's default volume (80) is -8 dB: about 1000
 * arrives. While the far end sounds at the same time (the load test's partners' syllables are in
 * step), the sender's echo suppression holds its tone near 1400 for the first ten seconds of a call
 * (measured through CaptureProcessor, 2026-12-06): about 560 arrives, and concealment and time-scaling
 * take some windows under 500, so a call took 33 s to count 1 s of tone, and one in CI more than 45.
 * 250 (-42 dBFS) is far above silence or a noise floor, and above the second 20 ms of a concealment
 * tail (about 140).
 */
export const MIN_WINDOW_RMS = 250;

/** A syllable of a test tone: this long... */
export const SYLLABLE_SAMPLES = 0.5 * SAMPLE_RATE;
/** ...of which this much is tone, the rest silence. */
export const SYLLABLE_TONE_SAMPLES = 0.3 * SAMPLE_RATE;

/**
 * Whether sample `index` of a test tone sounds. Test tones are spoken in syllables (300 ms of tone,
 * 200 ms of silence): a unit's noise suppression (on by default) takes a steady tone for noise, as
 * it does a fan's hum, and removes it within half a second (measured through CaptureProcessor:
 * RMS 5700 in, 330 out after 0.6 s), while the pauses keep its noise estimate at the floor, as
 * speech's pauses do (the syllables come through at ~2500).
 */
export function syllableSounds(index: number): boolean {
  return index % SYLLABLE_SAMPLES < SYLLABLE_TONE_SAMPLES;
}

/** `seconds` of a tone at `frequencyHz` in syllables, starting with one. */
export function syllableTone(frequencyHz: number, seconds: number, amplitude: number): Int16Array {
  const samples = new Int16Array(Math.round(seconds * SAMPLE_RATE));
  for (let i = 0; i < samples.length; i += 1) {
    if (syllableSounds(i)) samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequencyHz * i) / SAMPLE_RATE));
  }
  return samples;
}

export interface ToneMeasure {
  /** Seconds of windows that clearly carry the tone, anywhere in the recording. */
  toneSeconds: number;
  /** Seconds of recording looked at. */
  recordedSeconds: number;
  /** The longest run of consecutive tone windows, in seconds (for the log: how broken it was). */
  longestRunSeconds: number;
}

/** Whether one window (WINDOW_SAMPLES long) clearly carries the tone. */
export function windowCarriesTone(window: Int16Array, frequencyHz: number): boolean {
  return rms(window) >= MIN_WINDOW_RMS && toneShare(window, frequencyHz, SAMPLE_RATE) >= MIN_TONE_SHARE;
}

export function measureTone(samples: Int16Array, frequencyHz: number): ToneMeasure {
  let windows = 0;
  let run = 0;
  let longestRun = 0;
  let total = 0;
  for (let start = 0; start + WINDOW_SAMPLES <= samples.length; start += WINDOW_SAMPLES) {
    total += 1;
    if (windowCarriesTone(samples.subarray(start, start + WINDOW_SAMPLES), frequencyHz)) {
      windows += 1;
      run += 1;
      longestRun = Math.max(longestRun, run);
    } else {
      run = 0;
    }
  }
  const seconds = (count: number) => (count * WINDOW_SAMPLES) / SAMPLE_RATE;
  return { toneSeconds: seconds(windows), recordedSeconds: seconds(total), longestRunSeconds: seconds(longestRun) };
}

export interface ToneVerdict extends ToneMeasure {
  heard: boolean;
  /** The floor it was held against, in seconds of tone. */
  floorSeconds: number;
}

/**
 * The default check of the boot test: the tone was sent for `sentSeconds`; the speaker must have
 * played it for at least `share` of that (default a sixth: 1 s of a 6 s tone), in any pieces.
 */
export function toneHeard(samples: Int16Array, frequencyHz: number, sentSeconds: number, share = 1 / 6): ToneVerdict {
  const measure = measureTone(samples, frequencyHz);
  const floorSeconds = sentSeconds * share;
  return { ...measure, floorSeconds, heard: measure.toneSeconds >= floorSeconds };
}

/** For logs: "2.34 s of tone in 18.0 s (longest unbroken 0.42 s)". */
export function describeTone(measure: ToneMeasure): string {
  return `${measure.toneSeconds.toFixed(2)} s of tone in ${measure.recordedSeconds.toFixed(1)} s (longest unbroken ${measure.longestRunSeconds.toFixed(2)} s)`;
}
