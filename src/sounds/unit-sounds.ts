import type { FrameSource } from '../streaming/signal-sources.js';
import { TONE_PLANS, type TonePlan, type UnitSoundName } from './tone-plan.js';

/**
 * The unit's own sounds (ring, ringback, busy, unreachable, ended, door opened) as frame
 * sources for the playback path, 48 kHz mono in frames of the configured size. The audio engine
 * mixes them into what the speaker plays, so the echo canceller hears them like the far end.
 * Pure; the WAV ring tone is read once by loadRingTone() (ring-tone.ts).
 */
export const SAMPLE_RATE = 48_000;
/** Edges of every tone are faded over this long: a tone switched on or off at full level clicks. */
const FADE_MS = 5;
/** A WAV ring tone plays, then this much silence, then again. */
const RING_TONE_PAUSE_MS = 1000;

export type { UnitSoundName } from './tone-plan.js';

export interface SoundSource extends FrameSource {
  readonly name: UnitSoundName;
  /** The next `samples` (a frame when absent; a device that plays what it is given asks as much as the call's audio came in), or null when ended. */
  nextFrame(samples?: number): Int16Array | null;
  /** Ends the sound: the next frame fades it out, every frame after that is null. */
  stop(): void;
  /** Stopped, or played to its end. */
  readonly finished: boolean;
}

export interface UnitSoundsOptions {
  /** Samples per frame (960 for 20 ms, 480 for 10 ms). */
  frameSamples: number;
  /** audio.ringVolume, 0-100. */
  ringVolume: number;
  /** A WAV ring tone already read with loadRingTone() (ring-tone.ts); absent or null: the built-in chime. */
  ringTone?: Int16Array | null;
}

/** audio.ringVolume (0-100) as a linear gain: the square follows loudness better than a straight line (50 is -12 dB). */
export function volumeGain(volume: number): number {
  const clamped = Math.max(0, Math.min(100, volume));
  return (clamped / 100) ** 2;
}

/** One cycle of a tone plan, as samples at `gain` times its level. */
export function synthesizeCycle(plan: TonePlan, gain = 1): Int16Array {
  const lengths = plan.segments.map((segment) => Math.round((segment.durationMs * SAMPLE_RATE) / 1000));
  const cycle = new Int16Array(lengths.reduce((sum, length) => sum + length, 0));
  const peak = 32767 * 10 ** (plan.peakDbfs / 20) * gain;
  const fade = Math.round((FADE_MS * SAMPLE_RATE) / 1000);
  let offset = 0;
  plan.segments.forEach((segment, index) => {
    const length = lengths[index];
    const components = segment.frequenciesHz.length;
    for (let i = 0; i < length && components > 0; i += 1) {
      const t = i / SAMPLE_RATE;
      let value = 0;
      for (const frequency of segment.frequenciesHz) value += Math.sin(2 * Math.PI * frequency * t);
      const edge = Math.min(1, i / fade, (length - 1 - i) / fade);
      const smoothEdge = edge >= 1 ? 1 : 0.5 - 0.5 * Math.cos(Math.PI * Math.max(0, edge));
      const decay = segment.decayMs === undefined ? 1 : Math.exp(-(t * 1000) / segment.decayMs);
      cycle[offset + i] = Math.round((peak / components) * value * smoothEdge * decay);
    }
    offset += length;
  });
  return cycle;
}

class CycleSource implements SoundSource {
  private position = 0;
  private cyclesPlayed = 0;
  private stopRequested = false;
  private done = false;

  constructor(
    readonly name: UnitSoundName,
    private readonly cycle: Int16Array,
    private readonly repeat: number | 'until-stopped',
    private readonly frameSamples: number,
  ) {
    if (cycle.length === 0) this.done = true;
  }

  get finished(): boolean {
    return this.done;
  }

  stop(): void {
    this.stopRequested = true;
  }

  nextFrame(samples = this.frameSamples): Int16Array | null {
    if (this.done) return null;
    const frame = new Int16Array(samples);
    let filled = 0;
    while (filled < frame.length) {
      if (this.position === this.cycle.length) {
        this.cyclesPlayed += 1;
        this.position = 0;
        if (this.repeat !== 'until-stopped' && this.cyclesPlayed >= this.repeat) {
          this.done = true;
          break;
        }
      }
      const take = Math.min(frame.length - filled, this.cycle.length - this.position);
      frame.set(this.cycle.subarray(this.position, this.position + take), filled);
      this.position += take;
      filled += take;
    }
    if (filled === 0) return null;
    if (this.stopRequested) {
      // Fade out over this frame rather than cut mid-wave (a click), then nothing.
      for (let i = 0; i < frame.length; i += 1) frame[i] = Math.round(frame[i] * (1 - (i + 1) / frame.length));
      this.done = true;
    }
    return frame;
  }
}

export class UnitSounds {
  private readonly cycles = new Map<UnitSoundName, Int16Array>();

  constructor(private readonly options: UnitSoundsOptions) {
    if (!Number.isInteger(options.frameSamples) || options.frameSamples <= 0) throw new RangeError(`frameSamples must be a positive integer, got ${options.frameSamples}`);
    for (const name of Object.keys(TONE_PLANS) as UnitSoundName[]) {
      if (name !== 'ring') this.cycles.set(name, synthesizeCycle(TONE_PLANS[name]));
    }
    const ringGain = volumeGain(options.ringVolume);
    if (options.ringTone) {
      const pause = Math.round((RING_TONE_PAUSE_MS * SAMPLE_RATE) / 1000);
      const ring = new Int16Array(options.ringTone.length + pause);
      for (let i = 0; i < options.ringTone.length; i += 1) ring[i] = Math.round(options.ringTone[i] * ringGain);
      this.cycles.set('ring', ring);
    } else {
      this.cycles.set('ring', synthesizeCycle(TONE_PLANS.ring, ringGain));
    }
  }

  /** A new source of the sound, from its start. Ring and ringback play until stopped; the others end by themselves. */
  play(name: UnitSoundName): SoundSource {
    const cycle = this.cycles.get(name);
    if (cycle === undefined) throw new RangeError(`no unit sound "${name}"`);
    return new CycleSource(name, cycle, TONE_PLANS[name].repeat, this.options.frameSamples);
  }
}

/** Adds `sound` into `frame` in place, saturating at full scale (what mixing into the playback path needs). */
export function mixInto(frame: Int16Array, sound: Int16Array): void {
  const length = Math.min(frame.length, sound.length);
  for (let i = 0; i < length; i += 1) frame[i] = Math.max(-32768, Math.min(32767, frame[i] + sound[i]));
}
