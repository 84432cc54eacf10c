import { seededNoise } from './seeded-noise.js';

/**
 * What the acoustic self-test plays through the unit's speaker (48 kHz mono):
 *
 *   0.5 s silence     the microphone's noise floor
 *   1.0 s sweep       exponential sine sweep 100 Hz - 12 kHz at -12 dBFS: it carries energy over
 *                     the whole speech band and deconvolves into the echo path's impulse response
 *   0.2 s silence
 *   3.0 s noise       pink-ish noise at -20 dBFS: broadband and long enough for the echo
 *                     canceller to converge on the real path
 *   0.5 s silence     the room's reverberation dies away
 *
 * 5.2 s in all; an installer hears a rising whistle and a hiss.
 */
export const SAMPLE_RATE = 48_000;

export interface SelfTestSignal {
  samples: Int16Array;
  /** Where each part starts and how long it is, in samples. */
  quiet: { start: number; length: number };
  sweep: { start: number; length: number };
  noise: { start: number; length: number };
}

const ms = (value: number) => Math.round((value * SAMPLE_RATE) / 1000);
const FADE = ms(10);

export function selfTestSignal(): SelfTestSignal {
  const quiet = { start: 0, length: ms(500) };
  const sweep = { start: quiet.length, length: ms(1000) };
  const noise = { start: sweep.start + sweep.length + ms(200), length: ms(3000) };
  const samples = new Int16Array(noise.start + noise.length + ms(500));

  const amplitude = 32767 * 10 ** (-12 / 20);
  const f1 = 100;
  const f2 = 12_000;
  const duration = sweep.length / SAMPLE_RATE;
  const rate = Math.log(f2 / f1);
  for (let i = 0; i < sweep.length; i += 1) {
    const t = i / SAMPLE_RATE;
    const phase = ((2 * Math.PI * f1 * duration) / rate) * (Math.exp((t * rate) / duration) - 1);
    samples[sweep.start + i] = Math.round(amplitude * fade(i, sweep.length) * Math.sin(phase));
  }

  const pink = seededNoise(noise.length, 0x5e1f7e57);
  let energy = 0;
  for (const value of pink) energy += value * value;
  const scale = (32767 * 10 ** (-20 / 20)) / Math.sqrt(energy / pink.length);
  for (let i = 0; i < noise.length; i += 1) samples[noise.start + i] = Math.max(-32767, Math.min(32767, Math.round(pink[i] * scale * fade(i, noise.length))));
  return { samples, quiet, sweep, noise };
}

/** Raised-cosine fade in and out over FADE samples: no clicks at the edges. */
function fade(index: number, length: number): number {
  const edge = Math.min(index, length - 1 - index);
  return edge >= FADE ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * edge) / FADE);
}
