/**
 * Automatic gain control of the capture path: brings a quiet and a loud talker to the same
 * level at the far end, and never lets a frame clip.
 *
 * Ours rather than speexdsp's because the gain must learn from the person at the door only: a
 * speexdsp AGC also learns from the faint echo the canceller leaves while the far end talks, and
 * turns it up (it cost 17 dB of echo return loss enhancement in the room simulator). Here the
 * caller says, block by block, whether the block is near-end speech; the level estimate moves
 * only then, and the gain follows it slowly (speech has pauses and loud syllables), except that
 * it drops at once when a block would clip.
 */
export interface GainControlOptions {
  /** Active speech level to reach, dBFS (-23: broadcast loudness, well clear of clipping). */
  targetDbfs: number;
  /** Most the gain may raise a quiet talker / lower a loud one, dB. */
  maxGainDb: number;
  maxCutDb: number;
  /** How fast the gain may rise and fall while following the level, dB per second. */
  riseDbPerSecond: number;
  fallDbPerSecond: number;
  /** Peak ceiling, dBFS: a block whose peak would exceed it is turned down at once. */
  ceilingDbfs: number;
  /** Share of each speech block's power that enters the level estimate (0..1): 0.02 ≈ half a second of speech. */
  levelSmoothing: number;
  blockSamples: number;
  sampleRate: number;
}

export const DEFAULT_GAIN_CONTROL: GainControlOptions = {
  targetDbfs: -23,
  maxGainDb: 24,
  maxCutDb: 24,
  riseDbPerSecond: 12,
  fallDbPerSecond: 40,
  ceilingDbfs: -1,
  levelSmoothing: 0.02,
  blockSamples: 480,
  sampleRate: 48_000,
};

const FULL_SCALE = 32768;

export class GainControl {
  private readonly options: GainControlOptions;
  /** Estimated active speech power of the talker (mean square, full scale = 32768^2). */
  private speechPower: number;
  private gainDbValue = 0;
  private readonly riseDbPerBlock: number;
  private readonly fallDbPerBlock: number;
  private readonly ceiling: number;

  constructor(options: Partial<GainControlOptions> = {}) {
    this.options = { ...DEFAULT_GAIN_CONTROL, ...options };
    const blockSeconds = this.options.blockSamples / this.options.sampleRate;
    this.riseDbPerBlock = this.options.riseDbPerSecond * blockSeconds;
    this.fallDbPerBlock = this.options.fallDbPerSecond * blockSeconds;
    this.ceiling = FULL_SCALE * 10 ** (this.options.ceilingDbfs / 20);
    // Start as if the talker were at the target: no gain until someone has spoken.
    this.speechPower = FULL_SCALE ** 2 * 10 ** (this.options.targetDbfs / 10);
  }

  /** The gain now, dB. */
  get gainDb(): number {
    return this.gainDbValue;
  }

  /** Level of the talker as estimated so far, dBFS. */
  get speechLevelDbfs(): number {
    return 10 * Math.log10(this.speechPower / FULL_SCALE ** 2);
  }

  /**
   * The gain for one block (linear): learns from it when `nearEndSpeech`, follows the level,
   * and turns down at once if the block's peak would pass the ceiling.
   */
  nextGain(block: Int16Array, nearEndSpeech: boolean): number {
    let peak = 0;
    let energy = 0;
    for (const sample of block) {
      const magnitude = Math.abs(sample);
      if (magnitude > peak) peak = magnitude;
      energy += sample * sample;
    }
    if (nearEndSpeech && energy > 0) {
      this.speechPower += this.options.levelSmoothing * (energy / block.length - this.speechPower);
    }
    const wanted = Math.max(-this.options.maxCutDb, Math.min(this.options.maxGainDb, this.options.targetDbfs - this.speechLevelDbfs));
    const step = wanted - this.gainDbValue;
    this.gainDbValue += step > 0 ? Math.min(step, this.riseDbPerBlock) : Math.max(step, -this.fallDbPerBlock);
    if (peak > 0) {
      const ceilingDb = 20 * Math.log10(this.ceiling / peak);
      if (this.gainDbValue > ceilingDb) this.gainDbValue = ceilingDb;
    }
    return 10 ** (this.gainDbValue / 20);
  }
}
