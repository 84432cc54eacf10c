/**
 * The room simulator, offline: what a door unit's microphone picks up while its speaker plays the
 * far end, as plain arrays (fast enough for tests and the benchmark). The same EchoPath serves the
 * paced virtual sound cards (./alsa-room.ts).
 *
 *     const scene = renderScene({ path: { delayMs: 10, rt60Ms: 300, couplingDb: -6, seed: 1 }, farEnd, nearEnd });
 *     const sent = processScene(scene, processor);  // what the far end hears
 *     erleDb(scene.echo, sent, 2 * 48_000, scene.mic.length, processor.addedDelaySamples);
 *
 * mic[i] = echo of speaker[..i] + near-end speech + noise, rounded to 16 bits and clipped at full
 * scale like a converter; speaker[i] is what left the speaker as mic[i] was taken, exactly the
 * reference the full-duplex engine hands the capture processing.
 */
import { seededRandom } from '../seeded-random.js';
import { EchoPath, type EchoPathOptions } from './echo-path.js';

export interface SceneOptions {
  path: EchoPathOptions;
  /** The far end's voice, as the unit's speaker plays it. */
  farEnd?: ArrayLike<number>;
  /** The visitor's voice as the mic picks it up directly (already at its level). */
  nearEnd?: ArrayLike<number>;
  /** Where the near-end voice starts, in samples. */
  nearEndAt?: number;
  /** Steady fan-like noise at the mic, RMS in dBFS. */
  noiseDbfs?: number;
  /** The mic's own hiss, RMS in dBFS; default -85 (a decent USB sound card). */
  micHissDbfs?: number;
  /** Total length in samples; default: the longest signal. */
  lengthSamples?: number;
  /** The echo path's delay changes to `delayMs` at `atSample`. */
  pathChanges?: { atSample: number; delayMs: number }[];
  /** Seed of the noise. */
  seed?: number;
}

export interface Scene {
  /** What the speaker played: the capture processing's reference. */
  speaker: Int16Array;
  /** What the mic captured. */
  mic: Int16Array;
  /** Each part of the mic signal on its own (floating point, before rounding). */
  echo: Float64Array;
  near: Float64Array;
  noise: Float64Array;
  /** Share of speaker samples the loudspeaker clipped. */
  loudspeakerClippedFraction: number;
}

/**
 * Steady noise like a fan or distant traffic: pink (-3 dB per octave, Paul Kellet's filter) with
 * a little more low end, at `dbfs` RMS.
 */
export function fanNoise(length: number, dbfs: number, seed: number): Float64Array {
  const random = seededRandom(seed);
  const out = new Float64Array(length);
  let b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, rumble = 0;
  for (let i = 0; i < length; i += 1) {
    const white = random() * 2 - 1;
    b0 = 0.99886 * b0 + white * 0.0555179;
    b1 = 0.99332 * b1 + white * 0.0750759;
    b2 = 0.969 * b2 + white * 0.153852;
    b3 = 0.8665 * b3 + white * 0.3104856;
    b4 = 0.55 * b4 + white * 0.5329522;
    b5 = -0.7616 * b5 - white * 0.016898;
    rumble = 0.995 * rumble + white * 0.05;
    out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + white * 0.5362 + rumble;
    b6 = white * 0.115926;
  }
  let sum = 0;
  for (const value of out) sum += value * value;
  const gain = (32768 * 10 ** (dbfs / 20)) / Math.sqrt(sum / Math.max(1, length));
  for (let i = 0; i < length; i += 1) out[i] *= gain;
  return out;
}

export function renderScene(options: SceneOptions): Scene {
  const nearAt = options.nearEndAt ?? 0;
  const length =
    options.lengthSamples ?? Math.max(options.farEnd?.length ?? 0, (options.nearEnd?.length ?? 0) + nearAt);
  const speaker = new Int16Array(length);
  if (options.farEnd) for (let i = 0; i < Math.min(length, options.farEnd.length); i += 1) speaker[i] = clamp16(options.farEnd[i]);
  const rendered = EchoPath.render(options.path, speaker, options.pathChanges);
  const echo = rendered.echo;
  const near = new Float64Array(length);
  if (options.nearEnd) for (let i = 0; i < options.nearEnd.length && nearAt + i < length; i += 1) near[nearAt + i] = options.nearEnd[i];
  const seed = options.seed ?? options.path.seed;
  const noise = options.noiseDbfs === undefined ? new Float64Array(length) : fanNoise(length, options.noiseDbfs, seed + 101);
  const hiss = fanNoise(length, options.micHissDbfs ?? -85, seed + 202);
  const mic = new Int16Array(length);
  for (let i = 0; i < length; i += 1) {
    noise[i] += hiss[i];
    mic[i] = clamp16(echo[i] + near[i] + noise[i]);
  }
  return { speaker, mic, echo, near, noise, loudspeakerClippedFraction: rendered.clippedFraction };
}

/** Anything with the capture processor's shape: whole frames in, the same length out. */
export interface FrameProcessor {
  process(mic: Int16Array, reference: Int16Array | null): Int16Array;
}

/**
 * Runs the mic through `processor` frame by frame with the speaker as reference (null: the speaker
 * was silent throughout); returns what would be sent.
 */
export function processScene(scene: Pick<Scene, 'mic'> & { speaker: Int16Array | null }, processor: FrameProcessor, frameSamples = 960): Int16Array {
  const out = new Int16Array(Math.floor(scene.mic.length / frameSamples) * frameSamples);
  for (let start = 0; start + frameSamples <= scene.mic.length; start += frameSamples) {
    out.set(processor.process(scene.mic.subarray(start, start + frameSamples), scene.speaker?.subarray(start, start + frameSamples) ?? null), start);
  }
  return out;
}

function clamp16(value: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(value)));
}
