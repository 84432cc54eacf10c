/**
 * The hands-free targets of issue 13 as runnable scenarios in the offline room simulator. The
 * tests assert floors on what these return and `npm run bench` prints them, so both measure
 * exactly the same thing. Each scenario builds a fresh processor (a new call) through `make`.
 */
import { crossCorrelate } from '../../../src/signal/fft.js';
import { FAR_END_TALK, NEAR_END_TALK, talk } from './speech.js';
import type { EchoPathOptions } from './echo-path.js';
import { activeLevelDbfs, atActiveLevel, envelopeCorrelation, erleDb, fullScaleSamples, levelDbfs, peakDbfs } from './measures.js';
import { processScene, renderScene, type FrameProcessor } from './room.js';

export const SAMPLE_RATE = 48_000;
const S = SAMPLE_RATE;

/** A processor under test: a frame processor that says how late its output is. */
export interface ProcessorUnderTest extends FrameProcessor {
  readonly addedDelaySamples: number;
  close(): void;
}
export type ProcessorFactory = () => ProcessorUnderTest;

/** No processing at all: the baseline every figure is compared against in the same run. */
export const noProcessing: ProcessorFactory = () => ({
  addedDelaySamples: 0,
  process: (mic) => mic.slice(),
  close: () => {},
});

/** Levels the scenarios speak at (active speech level at the mic or speaker, dBFS). */
export const LEVELS = {
  farEndAtSpeaker: -20,
  nearEndAtMic: -26,
  quietTalker: -35,
  loudTalker: -10,
  fanNoise: -40,
} as const;

let farEndCache: Promise<Int16Array> | undefined;
let nearEndCache: Promise<Int16Array> | undefined;
/** 20 s of far-end speech at the speaker level, made once per process. */
export function farEndSpeech(): Promise<Int16Array> {
  farEndCache ??= talk(FAR_END_TALK, 20).then((speech) => {
    const scaled = atActiveLevel(speech, LEVELS.farEndAtSpeaker);
    const out = new Int16Array(scaled.length);
    for (let i = 0; i < scaled.length; i += 1) out[i] = Math.round(scaled[i]);
    return out;
  });
  return farEndCache;
}
/** 10 s of the visitor's speech, at unit level (scaled per scenario). */
export function nearEndSpeech(): Promise<Int16Array> {
  nearEndCache ??= talk(NEAR_END_TALK, 10);
  return nearEndCache;
}

function withProcessor<T>(make: ProcessorFactory, use: (processor: ProcessorUnderTest) => T): T {
  const processor = make();
  try {
    return use(processor);
  } finally {
    processor.close();
  }
}

export interface EchoResult {
  /** ERLE over [2 s, 8 s) of far-end speech: the "after 2 s of far-end speech". */
  erleDb: number;
  /** ERLE of each second, 0-1 s first. */
  perSecondDb: number[];
  loudspeakerClippedPercent: number;
}

/** Far-end speech only (no near-end speech, no noise but the mic's hiss), fresh processor. */
export async function echoScenario(make: ProcessorFactory, path: EchoPathOptions): Promise<EchoResult> {
  const far = (await farEndSpeech()).subarray(0, 8 * S);
  const scene = renderScene({ path, farEnd: far });
  return withProcessor(make, (processor) => {
    const sent = processScene(scene, processor);
    const lag = processor.addedDelaySamples;
    const end = sent.length - lag;
    const perSecondDb: number[] = [];
    for (let second = 0; (second + 1) * S <= end; second += 1) perSecondDb.push(erleDb(scene.echo, sent, second * S, (second + 1) * S, lag));
    return { erleDb: erleDb(scene.echo, sent, 2 * S, end, lag), perSecondDb, loudspeakerClippedPercent: scene.loudspeakerClippedFraction * 100 };
  });
}

export interface DoubleTalkResult {
  /** Envelope correlation of what is sent with the clean near-end speech, while the far end talks. */
  correlation: number;
  /** The same with the far end silent (what processing alone costs). */
  correlationAlone: number;
  /** How much quieter the near-end speech arrives when the far end talks over it, dB (negative: louder). */
  levelDropDb: number;
}

/**
 * A conversation: the far end talks for 6 s (the canceller converges), the visitor answers alone
 * for 3 s (the gain control learns their level), then both talk at once for 5 s. The visitor's
 * speech in those 5 s is compared with the clean speech, and with the same call in which the far
 * end stays silent throughout (same processor settings).
 */
export async function doubleTalkScenario(make: ProcessorFactory, path: EchoPathOptions): Promise<DoubleTalkResult> {
  const allFar = await farEndSpeech();
  const near = atActiveLevel((await nearEndSpeech()).subarray(0, 8 * S), LEVELS.nearEndAtMic);
  const nearAt = 6 * S;
  const from = 9 * S;
  const to = 14 * S;
  const far = new Int16Array(to + S);
  far.set(allFar.subarray(0, 6 * S));
  far.set(allFar.subarray(6 * S, 6 * S + (to - from)), from);
  const run = (farEnd: Int16Array | undefined) =>
    withProcessor(make, (processor) => {
      const scene = renderScene({ path, farEnd, nearEnd: near, nearEndAt: nearAt, lengthSamples: far.length });
      const sent = processScene(scene, processor);
      const lag = processor.addedDelaySamples;
      return {
        correlation: envelopeCorrelation(scene.near, sent, { lag, from, to }),
        levelDbfs: activeLevelDbfs(sent.subarray(from + lag, to + lag)),
      };
    });
  const talking = run(far);
  const alone = run(undefined);
  return { correlation: talking.correlation, correlationAlone: alone.correlation, levelDropDb: alone.levelDbfs - talking.levelDbfs };
}

export interface DelayJumpResult {
  /** ERLE over the half second ending 2 s after the jump. */
  erleAt2sDb: number;
  /** ERLE in the second before the jump. */
  erleBeforeDb: number;
  /** ERLE of each half second from the jump on. */
  perHalfSecondDb: number[];
}

/** Far-end speech; 8 s into the call the echo path's delay grows by 20 ms. */
export async function delayJumpScenario(make: ProcessorFactory, path: EchoPathOptions, jumpMs = 20): Promise<DelayJumpResult> {
  const jumpAt = 8 * S;
  const far = (await farEndSpeech()).subarray(0, 12 * S);
  const scene = renderScene({ path, farEnd: far, pathChanges: [{ atSample: jumpAt, delayMs: path.delayMs + jumpMs }] });
  return withProcessor(make, (processor) => {
    const sent = processScene(scene, processor);
    const lag = processor.addedDelaySamples;
    const perHalfSecondDb: number[] = [];
    for (let start = jumpAt; start + S / 2 + lag <= sent.length; start += S / 2) perHalfSecondDb.push(erleDb(scene.echo, sent, start, start + S / 2, lag));
    return {
      erleAt2sDb: erleDb(scene.echo, sent, jumpAt + 1.5 * S, jumpAt + 2 * S, lag),
      erleBeforeDb: erleDb(scene.echo, sent, jumpAt - S, jumpAt, lag),
      perHalfSecondDb,
    };
  });
}

export interface NoiseResult {
  /** How much the steady noise drops in the speech pauses, dB, net of any gain change the speech got. */
  noiseReductionDb: number;
  /** Envelope correlation of the processed speech-in-noise with the clean speech. */
  speechCorrelation: number;
}

/**
 * A visitor speaks (normal level) in steady fan-like noise at -40 dBFS; no far end. Noise
 * reduction = the noise's level in the pauses before the speech, in minus out, corrected by the
 * gain the speech itself received (so gain control neither helps nor hurts the figure).
 */
export async function noiseScenario(make: ProcessorFactory, path: EchoPathOptions): Promise<NoiseResult> {
  const near = atActiveLevel((await nearEndSpeech()).subarray(0, 5 * S), LEVELS.nearEndAtMic);
  const speechAt = 3 * S;
  const scene = renderScene({ path, nearEnd: near, nearEndAt: speechAt, noiseDbfs: LEVELS.fanNoise, lengthSamples: speechAt + near.length + S });
  return withProcessor(make, (processor) => {
    const sent = processScene(scene, processor);
    const lag = processor.addedDelaySamples;
    // The noise estimate settles in the first second; measure the pause from 1.5 s to the speech.
    const noiseIn = levelDbfs(scene.mic, 1.5 * S, speechAt);
    const noiseOut = levelDbfs(sent, 1.5 * S + lag, speechAt + lag);
    const speechGainDb = activeLevelDbfs(sent.subarray(speechAt + lag, speechAt + near.length + lag)) - activeLevelDbfs(scene.mic.subarray(speechAt, speechAt + near.length));
    return {
      noiseReductionDb: noiseIn - noiseOut + speechGainDb,
      speechCorrelation: envelopeCorrelation(scene.near, sent, { lag, from: speechAt, to: speechAt + near.length }),
    };
  });
}

export interface TalkerLevelResult {
  quietInDbfs: number;
  loudInDbfs: number;
  /** Active speech level sent, after the gain control has had 2 s. */
  quietOutDbfs: number;
  loudOutDbfs: number;
  differenceDb: number;
  /** Samples at full scale in what was sent (clipping), both talkers. */
  fullScaleSamples: number;
  loudOutPeakDbfs: number;
}

/** The same visitor speech at -35 and at -10 dBFS into the mic, each through a fresh processor; no far end. */
export async function talkerLevelScenario(make: ProcessorFactory, path: EchoPathOptions): Promise<TalkerLevelResult> {
  const speech = await nearEndSpeech();
  const run = (dbfs: number) =>
    withProcessor(make, (processor) => {
      const scene = renderScene({ path, nearEnd: atActiveLevel(speech, dbfs) });
      const sent = processScene(scene, processor);
      const lag = processor.addedDelaySamples;
      return {
        inDbfs: activeLevelDbfs(scene.mic),
        outDbfs: activeLevelDbfs(sent.subarray(2 * S + lag)),
        fullScale: fullScaleSamples(sent),
        peak: peakDbfs(sent),
      };
    });
  const quiet = run(LEVELS.quietTalker);
  const loud = run(LEVELS.loudTalker);
  return {
    quietInDbfs: quiet.inDbfs,
    loudInDbfs: loud.inDbfs,
    quietOutDbfs: quiet.outDbfs,
    loudOutDbfs: loud.outDbfs,
    differenceDb: Math.abs(loud.outDbfs - quiet.outDbfs),
    fullScaleSamples: quiet.fullScale + loud.fullScale,
    loudOutPeakDbfs: loud.peak,
  };
}

/**
 * The delay the processing adds, measured: near-end speech alone goes through, and the lag of the
 * best waveform match between what went in and what came out is the delay (in samples).
 */
export async function addedDelayScenario(make: ProcessorFactory, path: EchoPathOptions): Promise<{ measuredSamples: number; declaredSamples: number }> {
  const near = atActiveLevel((await nearEndSpeech()).subarray(0, 4 * S), LEVELS.nearEndAtMic);
  const scene = renderScene({ path, nearEnd: near });
  return withProcessor(make, (processor) => {
    const sent = processScene(scene, processor);
    // Search 0-40 ms over the last 2 s (the processing has settled by then).
    const from = 2 * S;
    const to = 4 * S - 2_000;
    const correlation = crossCorrelate(scene.mic.subarray(from, to), sent.subarray(from, to + 1_920), 1_920);
    let best = { lag: 0, score: -Infinity };
    correlation.forEach((score, lag) => {
      if (score > best.score) best = { lag, score };
    });
    return { measuredSamples: best.lag, declaredSamples: processor.addedDelaySamples };
  });
}
