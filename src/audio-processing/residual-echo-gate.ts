/**
 * A residual echo gate after speexdsp: while only the far end talks, the little echo that the
 * canceller and speexdsp's residual echo suppressor leave is turned down by a further `depthDb`;
 * as soon as the person at the door speaks, the gate is open.
 *
 * speexdsp's suppressor relies on its own estimate of the residual, which trails the truth by
 * 10-20 dB while the canceller is still converging and whenever the loudspeaker distorts (a
 * linear filter cannot model clipping). The room simulator showed 27 dB of echo return loss
 * enhancement two seconds into a call and 14 dB with a clipping speaker; the targets are 30 and 20.
 *
 * Whether someone speaks at the door is decided from the canceller's own figures, per 10 ms
 * block: with only echo at the mic, the canceller's output is the mic's power divided by the
 * enhancement it currently achieves (tracked on far-end blocks, as a high percentile so that
 * double talk barely moves it), above the stationary noise. Output well above that is near-end
 * speech. Because speexdsp's preprocessor hands out each block one block late, the gate sees one
 * block ahead of what it gates, so the first syllable is never cut.
 */
export interface ResidualEchoGateOptions {
  /** Attenuation while only the far end talks, dB. */
  depthDb: number;
  blockSamples: number;
  sampleRate: number;
}

export interface BlockEnergies {
  /** Sums of squared samples of one block: the mic, the reference (speaker), the canceller's output. */
  mic: number;
  reference: number;
  cancelled: number;
}

const FULL_SCALE_POWER = 32768 * 32768;
/** A speaker block above -50 dBFS is far-end activity. */
const FAR_END_ACTIVE_POWER = FULL_SCALE_POWER * 1e-5;
/** Mic blocks quieter than -65 dBFS tell nothing about the echo. */
const MIC_AUDIBLE_POWER = FULL_SCALE_POWER * 10 ** -6.5;
/** Echo is expected this long after the speaker last played something: the room's reverberation. */
const ECHO_HANG_MS = 300;
/** Near-end speech holds the gate open this long after it was last detected (syllable decays). */
const NEAR_END_HANG_MS = 150;
/** The canceller's output must exceed the echo-only expectation by this factor (9 dB) to count as near-end speech. */
const NEAR_END_MARGIN = 8;
/** Enhancement values the tracker keeps (1 s of far-end blocks) and the fewest it needs. */
const ENHANCEMENT_WINDOW = 100;
const ENHANCEMENT_MIN_BLOCKS = 20;
/** The tracker's percentile: double talk lowers single blocks' enhancement, never raises it. */
const ENHANCEMENT_PERCENTILE = 0.75;
const ENHANCEMENT_REFRESH_BLOCKS = 10;
/** Minimum statistics of the canceller's output over two windows of this many blocks (1.5 s each) give the noise floor. */
const NOISE_WINDOW_BLOCKS = 150;
/** The gate closes over this many blocks (opening is immediate). */
const CLOSE_BLOCKS = 2;

export class ResidualEchoGate {
  private readonly depthGain: number;
  private readonly echoHangBlocks: number;
  private readonly nearEndHangBlocks: number;
  private echoHang = 0;
  private nearEndHang = 0;
  private readonly enhancements: number[] = [];
  private enhancementUpdates = 0;
  /** The percentile of `enhancements`, recomputed every few blocks (sorting each block would cost more than the gate). */
  private enhancementEstimate: number | undefined;
  private noiseFloorCurrent = Infinity;
  private noiseFloorPrevious = Infinity;
  private noiseWindowCount = 0;
  /** Decisions for the mic block before the latest one (the one the next output block holds). */
  private previous = { echoExpected: false, nearEnd: false };
  private gain = 1;
  /** Blocks that the gate attenuated, and all blocks seen. */
  gatedBlocks = 0;
  blocks = 0;

  constructor(private readonly options: ResidualEchoGateOptions) {
    this.depthGain = 10 ** (-options.depthDb / 20);
    const blockMs = (options.blockSamples * 1000) / options.sampleRate;
    this.echoHangBlocks = Math.round(ECHO_HANG_MS / blockMs);
    this.nearEndHangBlocks = Math.round(NEAR_END_HANG_MS / blockMs);
  }

  /** The canceller's current enhancement estimate (power ratio), or undefined until it has one. */
  get enhancement(): number | undefined {
    return this.enhancementEstimate;
  }

  /**
   * Whether the block the gate last decided on may hold echo (the speaker played within the
   * room's reverberation time): the gain control learns the talker's level only from blocks that
   * cannot (a canceller that is still converging, or has just lost the path, leaves echo that
   * no detector tells from speech reliably, and a gain learnt from it would turn the echo up).
   */
  get echoExpected(): boolean {
    return this.previous.echoExpected;
  }

  /**
   * Takes the figures of the newest mic block and returns the gate's gain (linear) for the output
   * block that holds the mic block before it. `echoHeard`: whether the speaker is known to reach
   * the mic (the delay tracker found the path). Without that, whatever the mic hears while the far
   * end talks is the near end or noise, and the canceller, with nothing to remove, would make
   * every block look like echo: a visitor talking over the flat lost 5 dB on average (up to 7.5 dB
   * a second) where no echo came back at all.
   */
  next(block: BlockEnergies, echoHeard = true): number {
    this.blocks += 1;
    const n = this.options.blockSamples;
    const farEndActive = block.reference / n > FAR_END_ACTIVE_POWER;
    if (farEndActive) this.echoHang = this.echoHangBlocks;
    else if (this.echoHang > 0) this.echoHang -= 1;
    const echoExpected = this.echoHang > 0;

    this.trackNoiseFloor(block.cancelled);
    const enhancement = this.enhancement;
    if (farEndActive && block.mic / n > MIC_AUDIBLE_POWER) {
      this.enhancements.push(block.mic / Math.max(block.cancelled, 1));
      if (this.enhancements.length > ENHANCEMENT_WINDOW) this.enhancements.shift();
      this.enhancementUpdates += 1;
      if (this.enhancements.length >= ENHANCEMENT_MIN_BLOCKS && (this.enhancementEstimate === undefined || this.enhancementUpdates % ENHANCEMENT_REFRESH_BLOCKS === 0)) {
        const sorted = [...this.enhancements].sort((a, b) => a - b);
        this.enhancementEstimate = sorted[Math.floor(ENHANCEMENT_PERCENTILE * (sorted.length - 1))];
      }
    }
    const noiseFloor = Number.isFinite(this.noiseFloorPrevious) ? Math.min(this.noiseFloorCurrent, this.noiseFloorPrevious) : this.noiseFloorCurrent;
    const echoOnlyExpectation = enhancement === undefined ? Infinity : block.mic / enhancement;
    const aboveNoise = block.cancelled - 2 * noiseFloor;
    const nearEndNow = aboveNoise > NEAR_END_MARGIN * echoOnlyExpectation;
    if (nearEndNow) this.nearEndHang = this.nearEndHangBlocks;
    else if (this.nearEndHang > 0) this.nearEndHang -= 1;

    // Gate the output block (the previous mic block) only if neither it nor the newest block is near-end speech.
    const gate = echoHeard && enhancement !== undefined && this.previous.echoExpected && !this.previous.nearEnd && !nearEndNow;
    this.previous = { echoExpected, nearEnd: this.nearEndHang > 0 };
    if (gate) {
      this.gatedBlocks += 1;
      this.gain = Math.max(this.depthGain, this.gain * this.depthGain ** (1 / CLOSE_BLOCKS));
    } else {
      this.gain = 1;
    }
    return this.gain;
  }

  private trackNoiseFloor(cancelledEnergy: number): void {
    this.noiseFloorCurrent = Math.min(this.noiseFloorCurrent, cancelledEnergy);
    this.noiseWindowCount += 1;
    if (this.noiseWindowCount >= NOISE_WINDOW_BLOCKS) {
      this.noiseFloorPrevious = this.noiseFloorCurrent;
      this.noiseFloorCurrent = Infinity;
      this.noiseWindowCount = 0;
    }
  }

  reset(): void {
    this.echoHang = 0;
    this.nearEndHang = 0;
    this.enhancements.length = 0;
    this.enhancementEstimate = undefined;
    this.enhancementUpdates = 0;
    this.noiseFloorCurrent = Infinity;
    this.noiseFloorPrevious = Infinity;
    this.noiseWindowCount = 0;
    this.previous = { echoExpected: false, nearEnd: false };
    this.gain = 1;
  }
}
