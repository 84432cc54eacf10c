import { seededRandom } from '../seeded-random.js';
import { PartitionedConvolver } from './partitioned-convolver.js';

/**
 * The acoustic path from a unit's loudspeaker back into its own microphone: an optional clipping
 * loudspeaker, a bulk delay (sound travel plus the converters), and a room impulse response whose
 * tail decays exponentially with the room's RT60. Seeded: the same options give the same path.
 */
export interface EchoPathOptions {
  /** Delay of the direct sound, 1-40 ms in the range (0 and up accepted). */
  delayMs: number;
  /** Time for the reverberant tail to decay by 60 dB, 200-400 ms in the range. */
  rt60Ms: number;
  /** Echo power at the mic relative to the power sent to the speaker, -10 to 0 dB in the range. */
  couplingDb: number;
  /** Energy of the direct sound over the reverberant tail; default 0 dB (a hard case: half the echo is reverberation). */
  directToReverberantDb?: number;
  /** A loudspeaker driven into clipping: its output is cut at this level (dBFS of the speaker signal). Off when absent. */
  loudspeakerClipDbfs?: number;
  /** Seed of the tail's random structure. */
  seed: number;
}

export const SAMPLE_RATE = 48_000;
/** The longest path the simulator builds: 40 ms of delay and a tail of one RT60 of 400 ms, with room to spare. */
const MAX_PATH_MS = 500;

/**
 * The room's impulse response (without the loudspeaker): `delayMs` of silence, a unit direct
 * impulse, a few early reflections, then Gaussian noise under an exp(-6.9 t / RT60) envelope, cut
 * when it is 60 dB down, all scaled so that its energy (sum of squares) is 10^(couplingDb / 10).
 * For speech and noise alike the echo's power is then the speaker's power times that.
 */
export function roomImpulseResponse(options: EchoPathOptions): Float64Array {
  const random = seededRandom(options.seed);
  const gaussian = () => {
    const u = Math.max(random(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const delay = Math.round((options.delayMs * SAMPLE_RATE) / 1000);
  const tailLength = Math.round((options.rt60Ms * SAMPLE_RATE) / 1000);
  const taps = new Float64Array(delay + 1 + tailLength);
  const decayPerSample = Math.log(1000) / ((options.rt60Ms * SAMPLE_RATE) / 1000); // amplitude: 60 dB per RT60
  // Early reflections (walls of the porch, the door frame): 1-8 ms after the direct sound.
  const tail = new Float64Array(tailLength);
  for (let i = 0; i < tailLength; i += 1) tail[i] = gaussian() * Math.exp(-decayPerSample * i);
  for (let r = 0; r < 4; r += 1) {
    const at = Math.round(((1 + 7 * random()) * SAMPLE_RATE) / 1000);
    if (at < tailLength) tail[at] += (random() < 0.5 ? -1 : 1) * (0.3 + 0.4 * random()) * 8;
  }
  let tailEnergy = 0;
  for (const value of tail) tailEnergy += value * value;
  const directToReverberant = 10 ** ((options.directToReverberantDb ?? 0) / 10);
  // direct energy 1 => tail energy 1 / DRR
  const tailScale = Math.sqrt(1 / directToReverberant / tailEnergy);
  taps[delay] = 1;
  for (let i = 1; i < tailLength; i += 1) taps[delay + i] = tail[i] * tailScale;
  let energy = 0;
  for (const value of taps) energy += value * value;
  const scale = Math.sqrt(10 ** (options.couplingDb / 10) / energy);
  for (let i = 0; i < taps.length; i += 1) taps[i] *= scale;
  return taps;
}

/** Streaming echo path: feed it what the speaker plays, get what the mic hears of it. */
export class EchoPath {
  private readonly convolver: PartitionedConvolver;
  private options: EchoPathOptions;
  private readonly clipLevel: number | undefined;
  /** Speaker samples the loudspeaker clipped so far, and all it played (for the report). */
  clippedSamples = 0;
  playedSamples = 0;

  constructor(options: EchoPathOptions, blockSamples = 1024) {
    this.options = options;
    this.clipLevel = options.loudspeakerClipDbfs === undefined ? undefined : 32768 * 10 ** (options.loudspeakerClipDbfs / 20);
    this.convolver = new PartitionedConvolver(blockSamples, (MAX_PATH_MS * SAMPLE_RATE) / 1000, roomImpulseResponse(options));
  }

  get blockSamples(): number {
    return this.convolver.blockSamples;
  }

  /** The path's delay moves (the unit was knocked, a device buffer changed size) from the next block on. */
  setDelayMs(delayMs: number): void {
    this.options = { ...this.options, delayMs };
    this.convolver.setTaps(roomImpulseResponse(this.options));
  }

  /** What the loudspeaker makes of the signal it is driven with. */
  private loudspeaker(input: ArrayLike<number>): Float64Array {
    const out = Float64Array.from(input);
    this.playedSamples += out.length;
    if (this.clipLevel === undefined) return out;
    const level = this.clipLevel;
    for (let i = 0; i < out.length; i += 1) {
      if (out[i] > level) {
        out[i] = level;
        this.clippedSamples += 1;
      } else if (out[i] < -level) {
        out[i] = -level;
        this.clippedSamples += 1;
      }
    }
    return out;
  }

  /** Echo for any number of speaker samples; returns the echo for whole blocks completed so far. */
  push(speaker: ArrayLike<number>): Float64Array {
    return this.convolver.push(this.loudspeaker(speaker));
  }

  /** Echo of a whole signal, in step with it (its length rounded up to whole blocks, then cut back). */
  static render(options: EchoPathOptions, speaker: Int16Array, changes: readonly { atSample: number; delayMs: number }[] = []): { echo: Float64Array; clippedFraction: number } {
    const path = new EchoPath(options);
    const n = path.blockSamples;
    const echo = new Float64Array(Math.ceil(speaker.length / n) * n);
    const pendingChanges = [...changes].sort((a, b) => a.atSample - b.atSample);
    const block = new Float64Array(n);
    for (let start = 0; start < speaker.length; start += n) {
      while (pendingChanges.length > 0 && pendingChanges[0].atSample <= start) path.setDelayMs(pendingChanges.shift()!.delayMs);
      block.fill(0);
      for (let i = 0; i < n && start + i < speaker.length; i += 1) block[i] = speaker[start + i];
      echo.set(path.push(block), start);
    }
    return { echo: echo.subarray(0, speaker.length), clippedFraction: path.playedSamples === 0 ? 0 : path.clippedSamples / path.playedSamples };
  }
}
