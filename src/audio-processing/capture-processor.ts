import { EchoDelayTracker } from './echo-delay-tracker.js';
import { GainControl } from './gain-control.js';
import { ResidualEchoGate } from './residual-echo-gate.js';
import { loadSpeexAddon, type NativeSpeexProcessor, type SpeexProcessorOptions } from './speex-addon.js';

/**
 * The capture path's hands-free processing, in 10 ms blocks:
 *  1. speexdsp (the project's addon): acoustic echo cancellation against what the speaker played,
 *     then its preprocessor: suppression of the echo the canceller left, and of stationary noise;
 *  2. a residual echo gate (residual-echo-gate.ts) for the echo speexdsp still leaves while only
 *     the far end talks;
 *  3. gain control (gain-control.ts), learning only from near-end speech.
 * Whole frames in (any multiple of 10 ms), the same length out, 10 ms later (speexdsp's
 * preprocessor overlaps each block with the one before).
 *
 * Timing contract with the audio engine: `reference[i]` is what was leaving the speaker when
 * `mic[i]` was captured. The echo reaches the mic later (sound travel, the room), which the
 * canceller's filter covers up to `echoTailMs`.
 */

/** `audio.processing` in the configuration. */
export interface CaptureProcessingSettings {
  /** Everything off when false: frames pass through unchanged. */
  enabled: boolean;
  echoCancellation: boolean;
  noiseSuppression: boolean;
  gainControl: boolean;
  /** Length of the echo canceller's filter: the echo path's delay plus its reverberation that it can cancel. */
  echoTailMs: number;
}

export const DEFAULT_CAPTURE_PROCESSING: CaptureProcessingSettings = {
  enabled: true,
  echoCancellation: true,
  noiseSuppression: true,
  gainControl: true,
  echoTailMs: 200,
};

export interface CaptureProcessingFigures {
  enabled: boolean;
  echoCancellation: boolean;
  noiseSuppression: boolean;
  gainControl: boolean;
  /** Delay the processing adds to the capture path (the preprocessor's overlap: one block). */
  addedDelayMs: number;
  framesProcessed: number;
  /** Seconds of audio during which the speaker played something. */
  farEndActiveSeconds: number;
  /** Echo return loss enhancement over the last 2 s of far-end activity (median of 10 ms blocks), null until measurable. */
  erleDb: number | null;
  /** Echo return loss: how much quieter the mic hears the speaker than it plays, same window; null until measurable. */
  echoReturnLossDb: number | null;
  /** The canceller removes at least CONVERGED_ERLE_DB of the echo. */
  converged: boolean;
  /** Gain the gain control applies now, dB (0 without gain control). */
  gainDb: number;
  /** The preprocessor's speech probability of the last block, 0..1. */
  speechProbability: number;
  /** Share of blocks the residual echo gate turned down (far end talking alone). */
  gatedShare: number;
  /**
   * The echo path's bulk delay as the delay tracker last found it (speaker reference to mic, ms),
   * null until found; the reference is delayed by its growth since the first estimate.
   */
  echoDelayMs: number | null;
  referenceDelayMs: number;
}

export const SAMPLE_RATE = 48_000;
/** speexdsp works in blocks; 10 ms keeps its overlap delay at the 10 ms the issue allows. */
export const BLOCK_SAMPLES = 480;
export const MIN_ECHO_TAIL_MS = 50;
export const MAX_ECHO_TAIL_MS = 500;
/** ERLE from which the status calls the canceller converged. */
export const CONVERGED_ERLE_DB = 15;

/**
 * Settings chosen by measurement in the room simulator (docs/PERFORMANCE.md, "Echo and capture
 * processing"), where the reasons stand next to the numbers.
 */
const TUNING = {
  noiseSuppressDb: -20,
  echoSuppressDb: -45,
  echoSuppressActiveDb: -15,
  gateDepthDb: 12,
  speechProbability: 0.5,
} as const;

/** The echo path delays the delay tracker looks for (the range is 1-40 ms, and a jump of 20). */
const MAX_TRACKED_DELAY_MS = 100;
const TROUBLE_WINDOW_BLOCKS = 10;

const FULL_SCALE_POWER = 32768 * 32768;
/** A 10 ms block of the speaker above this (-50 dBFS) counts as far-end activity. */
const FAR_END_ACTIVE_POWER = FULL_SCALE_POWER * 1e-5;
/** A mic block this quiet (-65 dBFS) says nothing about the echo. */
const MIC_AUDIBLE_POWER = FULL_SCALE_POWER * 10 ** -6.5;
/** Blocks of far-end activity the estimates look back over: 2 s. */
const WINDOW_BLOCKS = 200;
/** Fewest blocks in the window before an estimate is given: 0.5 s. */
const MIN_WINDOW_BLOCKS = 50;

export class CaptureProcessor {
  readonly settings: Readonly<CaptureProcessingSettings>;
  /** Samples of delay the processing adds (0 when it is off). */
  readonly addedDelaySamples: number;
  private native: NativeSpeexProcessor | undefined;
  private readonly gate: ResidualEchoGate | undefined;
  private readonly gainControl: GainControl | undefined;
  private readonly delayTracker: EchoDelayTracker | undefined;
  private readonly referenceDelay: ReferenceDelayLine | undefined;
  private appliedGain = 1;
  private readonly blockFigures = new Float64Array(5);
  private readonly silence = new Int16Array(BLOCK_SAMPLES);
  private baselineDelay: number | undefined;
  /** Mic and canceller-output energy of the last far-end blocks (for the trouble check). */
  private readonly recentMic: number[] = [];
  private readonly recentCancelled: number[] = [];
  private cancellerInTrouble = false;
  private framesProcessed = 0;
  private farEndActiveBlocks = 0;
  /** Mic energy of the blocks still inside the processing's delay, oldest first. */
  private readonly delayedMicEnergy: number[] = [];
  private readonly erleWindow: number[] = [];
  private readonly erlWindow: number[] = [];
  private lastSpeechProbability = 0;
  private closed = false;

  constructor(settings: CaptureProcessingSettings) {
    const tail = settings.echoTailMs;
    if (!Number.isInteger(tail) || tail < MIN_ECHO_TAIL_MS || tail > MAX_ECHO_TAIL_MS) {
      throw new RangeError(`echoTailMs must be an integer from ${MIN_ECHO_TAIL_MS} to ${MAX_ECHO_TAIL_MS}, got ${tail}`);
    }
    this.settings = Object.freeze({ ...settings });
    const active = settings.enabled && (settings.echoCancellation || settings.noiseSuppression || settings.gainControl);
    if (active) {
      const options: SpeexProcessorOptions = {
        sampleRate: SAMPLE_RATE,
        blockSamples: BLOCK_SAMPLES,
        echoFilterSamples: settings.echoCancellation ? Math.round((tail * SAMPLE_RATE) / 1000 / BLOCK_SAMPLES) * BLOCK_SAMPLES : 0,
        preprocess: true,
        denoise: settings.noiseSuppression,
        noiseSuppressDb: TUNING.noiseSuppressDb,
        echoSuppressDb: TUNING.echoSuppressDb,
        echoSuppressActiveDb: TUNING.echoSuppressActiveDb,
      };
      this.native = new (loadSpeexAddon().SpeexProcessor)(options);
      if (settings.echoCancellation) {
        this.gate = new ResidualEchoGate({ depthDb: TUNING.gateDepthDb, blockSamples: BLOCK_SAMPLES, sampleRate: SAMPLE_RATE });
        this.delayTracker = new EchoDelayTracker({ sampleRate: SAMPLE_RATE, blockSamples: BLOCK_SAMPLES, maxDelayMs: MAX_TRACKED_DELAY_MS });
        this.referenceDelay = new ReferenceDelayLine(Math.round((MAX_TRACKED_DELAY_MS * SAMPLE_RATE) / 1000) + BLOCK_SAMPLES);
      }
      if (settings.gainControl) this.gainControl = new GainControl({ blockSamples: BLOCK_SAMPLES, sampleRate: SAMPLE_RATE });
    }
    // speex_preprocess overlaps each block with the one before: it answers one block late.
    this.addedDelaySamples = active ? BLOCK_SAMPLES : 0;
  }

  /**
   * Processes one frame (a whole number of 10 ms blocks) and returns the frame to send, a new
   * array of the same length. `reference` null means the speaker was silent.
   */
  process(mic: Int16Array, reference: Int16Array | null): Int16Array {
    if (this.closed) throw new Error('CaptureProcessor is closed');
    if (mic.length === 0 || mic.length % BLOCK_SAMPLES !== 0) {
      throw new RangeError(`capture frames must be a whole number of ${BLOCK_SAMPLES}-sample (10 ms) blocks, got ${mic.length} samples`);
    }
    if (reference !== null && reference.length !== mic.length) {
      throw new RangeError(`reference has ${reference.length} samples for a mic frame of ${mic.length}`);
    }
    this.framesProcessed += 1;
    const output = new Int16Array(mic.length);
    if (this.native === undefined) {
      output.set(mic);
      return output;
    }
    for (let start = 0; start < mic.length; start += BLOCK_SAMPLES) {
      const end = start + BLOCK_SAMPLES;
      const block = output.subarray(start, end);
      const micBlock = mic.subarray(start, end);
      let referenceBlock = reference === null ? null : reference.subarray(start, end);
      if (this.delayTracker !== undefined && this.referenceDelay !== undefined) {
        const played = referenceBlock ?? this.silence;
        const delay = this.delayTracker.push(played, micBlock, this.cancellerInTrouble);
        if (delay !== undefined) this.followEchoDelay(delay);
        referenceBlock = this.referenceDelay.pass(played);
      }
      this.native.process(micBlock, referenceBlock, block, this.blockFigures);
      const [micEnergy, referenceEnergy, cancelledEnergy, , speechProbability] = this.blockFigures;
      this.watchCanceller(micEnergy, referenceEnergy, cancelledEnergy);
      this.lastSpeechProbability = speechProbability;
      const echoHeard = this.delayTracker?.delaySamples !== undefined;
      const gateGain = this.gate?.next({ mic: micEnergy, reference: referenceEnergy, cancelled: cancelledEnergy }, echoHeard) ?? 1;
      const nearEndSpeech = speechProbability >= TUNING.speechProbability && (!(this.gate?.echoExpected ?? false));
      const gain = gateGain * (this.gainControl?.nextGain(block, nearEndSpeech) ?? 1);
      const outputEnergy = applyGainRamp(block, this.appliedGain, gain);
      this.appliedGain = gain;
      this.account(micEnergy, referenceEnergy, outputEnergy);
    }
    return output;
  }

  /**
   * The canceller is in trouble when, over the last 100 ms of far-end activity, it takes off
   * 10 dB less than the enhancement it has been achieving: the echo path changed, or someone
   * talks at the door. Either way the delay tracker looks more often.
   */
  private watchCanceller(micEnergy: number, referenceEnergy: number, cancelledEnergy: number): void {
    if (referenceEnergy / BLOCK_SAMPLES < FAR_END_ACTIVE_POWER) return;
    pushBounded(this.recentMic, micEnergy, TROUBLE_WINDOW_BLOCKS);
    pushBounded(this.recentCancelled, cancelledEnergy, TROUBLE_WINDOW_BLOCKS);
    const enhancement = this.gate?.enhancement;
    if (enhancement === undefined || this.recentMic.length < TROUBLE_WINDOW_BLOCKS) return;
    const recent = sum(this.recentMic) / Math.max(sum(this.recentCancelled), 1);
    this.cancellerInTrouble = recent * 10 < enhancement;
  }

  /**
   * Keeps the echo path's bulk delay where the canceller learnt it: the first delay found is the
   * baseline; a longer path delays the reference by the difference, so the learnt filter fits
   * again at once. A path shorter than the baseline cannot be matched (the reference cannot be
   * played early), so the canceller starts afresh on it (2 s to 30 dB, against 4 s to re-learn).
   */
  private followEchoDelay(delay: number): void {
    if (this.referenceDelay === undefined) return;
    if (this.baselineDelay !== undefined && delay < this.baselineDelay) {
      this.native?.reset();
      this.gate?.reset();
      this.baselineDelay = undefined;
    }
    this.baselineDelay ??= delay;
    this.referenceDelay.delay = delay - this.baselineDelay;
  }

  private account(micEnergy: number, referenceEnergy: number, outputEnergy: number): void {
    // The output block belongs to the mic block one delay earlier.
    this.delayedMicEnergy.push(micEnergy);
    const delayBlocks = this.addedDelaySamples / BLOCK_SAMPLES;
    if (this.delayedMicEnergy.length <= delayBlocks) return;
    const alignedMicEnergy = this.delayedMicEnergy.shift()!;
    if (!this.settings.echoCancellation) return;
    const referencePower = referenceEnergy / BLOCK_SAMPLES;
    if (referencePower < FAR_END_ACTIVE_POWER) return;
    this.farEndActiveBlocks += 1;
    const micPower = alignedMicEnergy / BLOCK_SAMPLES;
    if (micPower < MIC_AUDIBLE_POWER) return;
    pushBounded(this.erleWindow, 10 * Math.log10(alignedMicEnergy / Math.max(outputEnergy, 1)), WINDOW_BLOCKS);
    pushBounded(this.erlWindow, 10 * Math.log10(referenceEnergy / Math.max(alignedMicEnergy, 1)), WINDOW_BLOCKS);
  }

  figures(): CaptureProcessingFigures {
    const erleDb = this.erleWindow.length >= MIN_WINDOW_BLOCKS ? median(this.erleWindow) : null;
    return {
      enabled: this.native !== undefined,
      echoCancellation: this.native !== undefined && this.settings.echoCancellation,
      noiseSuppression: this.native !== undefined && this.settings.noiseSuppression,
      gainControl: this.native !== undefined && this.settings.gainControl,
      addedDelayMs: (this.addedDelaySamples * 1000) / SAMPLE_RATE,
      framesProcessed: this.framesProcessed,
      farEndActiveSeconds: (this.farEndActiveBlocks * BLOCK_SAMPLES) / SAMPLE_RATE,
      erleDb,
      echoReturnLossDb: this.erlWindow.length >= MIN_WINDOW_BLOCKS ? median(this.erlWindow) : null,
      converged: erleDb !== null && erleDb >= CONVERGED_ERLE_DB,
      gainDb: this.gainControl?.gainDb ?? 0,
      speechProbability: this.lastSpeechProbability,
      gatedShare: this.gate === undefined || this.gate.blocks === 0 ? 0 : this.gate.gatedBlocks / this.gate.blocks,
      echoDelayMs: this.delayTracker?.delaySamples === undefined ? null : (this.delayTracker.delaySamples * 1000) / SAMPLE_RATE,
      referenceDelayMs: ((this.referenceDelay?.delay ?? 0) * 1000) / SAMPLE_RATE,
    };
  }

  /** The echo path the canceller has learnt (taps at 48 kHz, 1.0 = full scale), or null without one. */
  echoImpulseResponse(): Float32Array | null {
    if (this.closed) throw new Error('CaptureProcessor is closed');
    return this.native?.impulseResponse() ?? null;
  }

  /** Forgets the learnt echo path and noise (another device). */
  reset(): void {
    if (this.closed) throw new Error('CaptureProcessor is closed');
    this.native?.reset();
    this.gate?.reset();
    this.delayTracker?.reset();
    if (this.referenceDelay !== undefined) this.referenceDelay.delay = 0;
    this.delayedMicEnergy.length = 0;
    this.erleWindow.length = 0;
    this.erlWindow.length = 0;
    this.farEndActiveBlocks = 0;
    this.lastSpeechProbability = 0;
  }

  /** Frees the native state now; closing twice is harmless. */
  close(): void {
    this.closed = true;
    this.native?.close();
    this.native = undefined;
  }
}

/** Delays the reference by a settable number of samples (what went in `delay` samples ago comes out). */
class ReferenceDelayLine {
  private readonly ring: Int16Array;
  private written = 0;
  delay = 0;
  private readonly out = new Int16Array(BLOCK_SAMPLES);

  constructor(capacity: number) {
    this.ring = new Int16Array(capacity);
  }

  pass(block: Int16Array): Int16Array {
    const capacity = this.ring.length;
    const delay = Math.min(this.delay, capacity - block.length);
    for (let i = 0; i < block.length; i += 1) {
      this.ring[(this.written + i) % capacity] = block[i];
      this.out[i] = this.ring[(this.written + i - delay + capacity) % capacity];
    }
    this.written = (this.written + block.length) % capacity;
    return this.out;
  }
}

/**
 * Multiplies the block by a gain moving linearly from `from` to `to` across it (no step, no
 * click), rounding to 16 bits; returns the block's energy afterwards. When the ramp would push a
 * sample past full scale (the gain control has just turned down for a loud block), the whole
 * block takes `to`, which the gain control chose to fit.
 */
function applyGainRamp(block: Int16Array, from: number, to: number): number {
  let energy = 0;
  if (from === 1 && to === 1) {
    for (const sample of block) energy += sample * sample;
    return energy;
  }
  let start = from;
  let step = (to - from) / block.length;
  for (let i = 0; i < block.length; i += 1) {
    if (Math.abs(block[i] * (start + step * (i + 1))) > 32767) {
      start = to;
      step = 0;
      break;
    }
  }
  for (let i = 0; i < block.length; i += 1) {
    const value = Math.max(-32768, Math.min(32767, Math.round(block[i] * (start + step * (i + 1)))));
    block[i] = value;
    energy += value * value;
  }
  return energy;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function pushBounded(values: number[], value: number, limit: number): void {
  values.push(value);
  if (values.length > limit) values.shift();
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
