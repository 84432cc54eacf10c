/**
 * Levels applied in software, on the frames themselves, where the sound card has no mixer control
 * for them (see src/audio/audio-levels.ts). Pure: no I/O, nothing loaded with it.
 */

/** Where levels the card cannot set are applied: the media engine's software gains (CallAudio fits). */
export interface SoftwareLevels {
  setPlaybackGain(factor: number): void;
  setCaptureGain(factor: number): void;
  setMicMuted(muted: boolean): void;
}

/** Linear factor of the speaker volume in software: 100 is the signal as it is, each step 0.4 dB less, 0 silent. */
export function volumeFactor(level: number): number {
  return level <= 0 ? 0 : 10 ** (((Math.min(level, 100) - 100) * 0.4) / 20);
}

/** Linear factor of the microphone gain in software: 50 is the signal as captured, 0 is -20 dB, 100 is +20 dB. */
export function micGainFactor(level: number): number {
  return 10 ** (((Math.min(Math.max(level, 0), 100) - 50) * 0.4) / 20);
}

/** `frame` scaled by `factor`, saturating at the 16-bit range; the same frame when the factor is 1. */
export function scaled(frame: Int16Array, factor: number): Int16Array {
  if (factor === 1) return frame;
  const out = new Int16Array(frame.length);
  for (let i = 0; i < frame.length; i += 1) {
    const value = Math.round(frame[i] * factor);
    out[i] = value > 32767 ? 32767 : value < -32768 ? -32768 : value;
  }
  return out;
}
