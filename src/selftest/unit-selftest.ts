import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Type, { type Static } from 'typebox';
import { schemaErrors } from '../system/schema-check.js';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';
import type { Logger } from '../logging/logger.js';
import type { LocalSoundSource } from '../streaming/local-sound.js';
import { samplesSound } from '../streaming/local-sound.js';
import { analyseSelfTest, SelfTestReportSchema } from './selftest-analysis.js';
import { SAMPLE_RATE, selfTestSignal, type SelfTestSignal } from './selftest-signal.js';

/** What the self-test needs of the unit's audio (CallAudio fits). */
export interface SelfTestAudio {
  readonly audioAvailable: boolean;
  /** Plays the unit's own sound (here: the test signal) through the speaker. */
  setLocalSound(source: LocalSoundSource | null): void;
  /** Hands every captured frame, with what the speaker played at that moment, to `tap` (null: stop). */
  setMicTap(tap: ((mic: Int16Array, reference: Int16Array) => void) | null): void;
}

export const StoredSelfTestSchema = Type.Object(
  {
    at: Type.String({ description: 'when the test ran (ISO 8601)' }),
    report: SelfTestReportSchema,
  },
  { description: "the last acoustic self-test, kept in <dataDir>/selftest.json" },
);
export type StoredSelfTest = Static<typeof StoredSelfTestSchema>;

/** Why a self-test could not run (the API answers 409 or 503 with it). */
export class SelfTestRefused extends Error {
  constructor(
    readonly reason: 'busy' | 'no-audio' | 'interrupted',
    message: string,
  ) {
    super(message);
  }
}

const FRAME_SAMPLES = 960;
/** Recorded before the signal starts (the devices settle) and after it ends (the room's tail). */
const LEAD_IN_SAMPLES = 0.3 * SAMPLE_RATE;
const TAIL_SAMPLES = 1 * SAMPLE_RATE;
/** A device that stops delivering ends the test with an error after this long. */
const TIMEOUT_MS = 20_000;
/** Where the test signal is told in the reference: the first sample this loud (after the playback gain). */
const ONSET_LEVEL = 1000;

/**
 * The acoustic self-test of a running unit (POST /api/selftest, the panel's Test sound button):
 * plays the test signal through the unit's own speaker path while recording the microphone, with
 * the engine's time-aligned reference (what left the speaker when each mic sample was taken), and
 * keeps the last report with its time in `<dataDir>/selftest.json` for the status. It runs only
 * outside calls, and a call that starts meanwhile stops it (the call wins the devices).
 */
export class UnitSelfTest {
  readonly filePath: string;
  private last: StoredSelfTest | null = null;
  private running: { abort: (reason: SelfTestRefused) => void } | null = null;

  constructor(
    private readonly options: {
      audio: SelfTestAudio;
      dataDir: string;
      /** True while the unit has a call (ringing or active): the test is refused. */
      inCall: () => boolean;
      logger?: Logger;
      now?: () => Date;
    },
  ) {
    this.filePath = path.join(options.dataDir, 'selftest.json');
  }

  async load(): Promise<void> {
    await mkdir(this.options.dataDir, { recursive: true });
    await removeStaleTempFiles(this.filePath);
    const read = await readJsonFile(this.filePath, checkStored);
    if (read.kind === 'corrupt') this.options.logger?.error({ file: this.filePath, keptAs: read.keptAs, reason: read.reason }, 'self-test file is corrupt; it was kept aside');
    if (read.kind === 'ok') this.last = read.value as StoredSelfTest;
  }

  latest(): StoredSelfTest | null {
    return this.last;
  }

  /** A call is starting: a running test gives the devices up at once. */
  interrupt(): void {
    this.running?.abort(new SelfTestRefused('interrupted', 'a call started during the self-test; it was stopped'));
  }

  async run(): Promise<StoredSelfTest> {
    if (this.running) throw new SelfTestRefused('busy', 'a self-test is already running');
    if (this.options.inCall()) throw new SelfTestRefused('busy', 'the unit is in a call; the self-test runs between calls');
    if (!this.options.audio.audioAvailable) throw new SelfTestRefused('no-audio', 'the sound devices are not open (see audio in the status)');
    const signal = selfTestSignal();
    this.options.logger?.info('self-test: playing the test signal through the speaker');
    const recording = await this.record(signal);
    const report = analyseSelfTest({ signal, ...recording });
    const stored: StoredSelfTest = { at: (this.options.now?.() ?? new Date()).toISOString(), report };
    await writeFileAtomic(this.filePath, `${JSON.stringify(stored, null, 2)}\n`);
    this.last = stored;
    this.options.logger?.info({ selfTest: report }, `self-test: speaker ${report.speakerHeard ? 'heard' : 'NOT heard'}, microphone ${report.microphoneLive ? 'live' : 'DEAD'}`);
    return stored;
  }

  /** The mic and the reference from the signal's first sample on, signal and tail long. */
  private record(signal: SelfTestSignal): Promise<{ mic: Int16Array; reference: Int16Array }> {
    const { audio } = this.options;
    const wanted = LEAD_IN_SAMPLES + signal.samples.length + TAIL_SAMPLES * 2;
    const mic = new Int16Array(wanted + FRAME_SAMPLES);
    const reference = new Int16Array(wanted + FRAME_SAMPLES);
    let recorded = 0;
    let playing = false;
    return new Promise((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        audio.setMicTap(null);
        audio.setLocalSound(null);
        this.running = null;
        if (error) {
          reject(error);
          return;
        }
        try {
          resolve(alignToSignal(signal, reference.subarray(0, recorded), mic.subarray(0, recorded)));
        } catch (alignError) {
          reject(alignError as Error);
        }
      };
      const timer = setTimeout(() => finish(new Error(`the self-test did not finish within ${TIMEOUT_MS / 1000} s (did the sound devices stop?)`)), TIMEOUT_MS);
      this.running = { abort: (reason) => finish(reason) };
      audio.setMicTap((micFrame, referenceFrame) => {
        const take = Math.min(micFrame.length, mic.length - recorded);
        mic.set(micFrame.subarray(0, take), recorded);
        reference.set(referenceFrame.subarray(0, take), recorded);
        recorded += take;
        if (!playing && recorded >= LEAD_IN_SAMPLES) {
          playing = true;
          audio.setLocalSound(samplesSound(signal.samples));
        }
        if (recorded >= wanted) finish();
      });
    });
  }
}

/**
 * Cuts the recording where the signal starts in the reference. The reference is the signal as
 * played (scaled by the volume, so the onset is found relative to the loudest sample), starting
 * when the speaker got to it; the analysis reads the signal's parts by their place in it.
 */
export function alignToSignal(signal: SelfTestSignal, reference: Int16Array, mic: Int16Array): { reference: Int16Array; mic: Int16Array } {
  const peak = (samples: Int16Array) => samples.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  const signalPeak = peak(signal.samples);
  const referencePeak = peak(reference);
  if (referencePeak === 0) throw new Error('the speaker path played nothing during the self-test (volume 0?)');
  const gain = referencePeak / signalPeak;
  const onset = (samples: Int16Array, level: number) => samples.findIndex((value) => Math.abs(value) >= level);
  const start = onset(reference, ONSET_LEVEL * gain) - onset(signal.samples, ONSET_LEVEL);
  if (start < 0 || reference.length - start < signal.samples.length) throw new Error('the self-test recording does not hold the whole test signal');
  return { reference: reference.subarray(start), mic: mic.subarray(start) };
}

function checkStored(value: unknown): string | null {
  // The status and the API serve it as it is: anything else than the schema says would fail there.
  const first = schemaErrors(StoredSelfTestSchema, value)[0];
  if (!first) return null;
  return `is not a self-test file${first ? ` (${first.instancePath || '/'} ${first.message})` : ''}`;
}
