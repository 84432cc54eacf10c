import test from 'ava';
import { CaptureProcessor, DEFAULT_CAPTURE_PROCESSING } from '../../src/audio-processing/capture-processor.js';
import {
  addedDelayScenario,
  delayJumpScenario,
  doubleTalkScenario,
  echoScenario,
  noProcessing,
  noiseScenario,
  talkerLevelScenario,
  type ProcessorFactory,
} from '../support/room-simulator/hands-free-scenarios.js';
import type { EchoPathOptions } from '../support/room-simulator/echo-path.js';

// Issue 13's targets for the capture processing, measured in the offline room simulator with
// real synthesized speech (espeak-ng), each against no processing in the same run. Floors only:
// the figures themselves are printed by `npm run bench` (bench/echo-processing.ts).

const shipped: ProcessorFactory = () => new CaptureProcessor(DEFAULT_CAPTURE_PROCESSING);
const path = (delayMs: number, rt60Ms: number, couplingDb: number, seed: number, loudspeakerClipDbfs?: number): EchoPathOptions => ({ delayMs, rt60Ms, couplingDb, seed, loudspeakerClipDbfs });
const fmt = (values: number[]) => values.map((value) => value.toFixed(1)).join(' ');

test('ERLE >= 30 dB after 2 s of far-end speech on linear paths up to 20 ms and RT60 300 ms (no processing: 0 dB)', async (t) => {
  for (const echoPath of [path(20, 300, 0, 31), path(1, 200, -10, 32), path(10, 300, -6, 33)]) {
    const processed = await echoScenario(shipped, echoPath);
    const baseline = await echoScenario(noProcessing, echoPath);
    t.log(`${echoPath.delayMs} ms, RT60 ${echoPath.rt60Ms} ms, ${echoPath.couplingDb} dB: ${processed.erleDb.toFixed(1)} dB (per second ${fmt(processed.perSecondDb)}); unprocessed ${baseline.erleDb.toFixed(1)} dB`);
    t.true(processed.erleDb >= 30, `${JSON.stringify(echoPath)}: ${processed.erleDb.toFixed(1)} dB`);
    t.true(Math.abs(baseline.erleDb) < 0.5);
  }
});

test('ERLE >= 20 dB at the far ends of the range (40 ms, RT60 400 ms, 0 dB) and with a clipping loudspeaker', async (t) => {
  // The loudspeaker clips at -8 dBFS: the top 7 dB of the far end's speech peaks, 0.7% of samples.
  for (const echoPath of [path(40, 400, 0, 34), path(1, 400, -10, 35), path(20, 300, 0, 36, -8)]) {
    const processed = await echoScenario(shipped, echoPath);
    t.log(`${JSON.stringify(echoPath)}: ${processed.erleDb.toFixed(1)} dB, loudspeaker clipped ${processed.loudspeakerClippedPercent.toFixed(1)}% (per second ${fmt(processed.perSecondDb)})`);
    t.true(processed.erleDb >= 20, `${JSON.stringify(echoPath)}: ${processed.erleDb.toFixed(1)} dB`);
    if (echoPath.loudspeakerClipDbfs !== undefined) t.true(processed.loudspeakerClippedPercent > 0.3, 'the loudspeaker really clips');
  }
});

test('double talk: the visitor reaches the far end with envelope correlation >= 0.85 and at most 3 dB quieter', async (t) => {
  const result = await doubleTalkScenario(shipped, path(20, 300, 0, 37));
  t.log(`correlation ${result.correlation.toFixed(3)} (far end silent: ${result.correlationAlone.toFixed(3)}), ${result.levelDropDb.toFixed(1)} dB quieter`);
  t.true(result.correlation >= 0.85);
  t.true(result.levelDropDb <= 3);
  const unprocessed = await doubleTalkScenario(noProcessing, path(20, 300, 0, 37));
  t.log(`unprocessed (the echo goes along): correlation ${unprocessed.correlation.toFixed(3)}`);
});

test('the echo path jumps by 20 ms mid-call (longer, then shorter): back to >= 25 dB within 2 s', async (t) => {
  for (const [delayMs, jumpMs] of [[10, 20], [30, -20]]) {
    const result = await delayJumpScenario(shipped, path(delayMs, 300, -6, 38), jumpMs);
    t.log(`${delayMs} -> ${delayMs + jumpMs} ms: ${result.erleBeforeDb.toFixed(1)} dB before, ${result.erleAt2sDb.toFixed(1)} dB at 1.5-2 s after (per half second ${fmt(result.perHalfSecondDb)})`);
    t.true(result.erleAt2sDb >= 25);
  }
});

test('steady -40 dBFS noise drops >= 10 dB while speech keeps envelope correlation >= 0.9', async (t) => {
  const result = await noiseScenario(shipped, path(10, 300, -6, 39));
  const unprocessed = await noiseScenario(noProcessing, path(10, 300, -6, 39));
  t.log(`noise ${result.noiseReductionDb.toFixed(1)} dB lower, speech correlation ${result.speechCorrelation.toFixed(3)} (unprocessed ${unprocessed.noiseReductionDb.toFixed(1)} dB, ${unprocessed.speechCorrelation.toFixed(3)})`);
  t.true(result.noiseReductionDb >= 10);
  t.true(result.speechCorrelation >= 0.9);
});

test('a -35 dBFS and a -10 dBFS talker arrive within 6 dB of each other, without clipping', async (t) => {
  const result = await talkerLevelScenario(shipped, path(10, 300, -6, 40));
  t.log(JSON.stringify(result));
  t.true(result.differenceDb <= 6);
  t.is(result.fullScaleSamples, 0);
  const unprocessed = await talkerLevelScenario(noProcessing, path(10, 300, -6, 40));
  t.true(unprocessed.differenceDb > 20, 'the test talkers really differ');
});

test('the processing adds 10 ms, measured on the waveform', async (t) => {
  const result = await addedDelayScenario(shipped, path(10, 300, -6, 41));
  t.is(result.measuredSamples, result.declaredSamples);
  t.true(result.measuredSamples <= 480);
});
