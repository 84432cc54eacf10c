import test from 'ava';
import { CaptureProcessor, DEFAULT_CAPTURE_PROCESSING } from '../../src/audio-processing/capture-processor.js';
import { farEndSpeech, nearEndSpeech } from '../support/room-simulator/hands-free-scenarios.js';
import { levelDbfs } from '../support/room-simulator/measures.js';
import { processScene, renderScene } from '../support/room-simulator/room.js';

// CaptureProcessor as the audio engine will use it: one call per captured frame with the
// time-aligned playback reference, figures for the status.

const S = 48_000;

test('turned off it passes frames through untouched, adds no delay and says so', (t) => {
  const processor = new CaptureProcessor({ ...DEFAULT_CAPTURE_PROCESSING, enabled: false });
  t.teardown(() => processor.close());
  const mic = Int16Array.from({ length: 960 }, (_, i) => (i * 37) % 2000);
  const out = processor.process(mic, mic);
  t.deepEqual(out, mic);
  t.not(out, mic, 'a new array, never the caller\'s');
  t.is(processor.addedDelaySamples, 0);
  t.like(processor.figures(), { enabled: false, echoCancellation: false, addedDelayMs: 0, framesProcessed: 1, erleDb: null, converged: false });
});

test('every part off but enabled is the same as off', (t) => {
  const processor = new CaptureProcessor({ ...DEFAULT_CAPTURE_PROCESSING, echoCancellation: false, noiseSuppression: false, gainControl: false });
  t.teardown(() => processor.close());
  t.is(processor.addedDelaySamples, 0);
  t.false(processor.figures().enabled);
});

test('takes 10 and 20 ms frames, refuses anything else, and a reference of another length', (t) => {
  const processor = new CaptureProcessor(DEFAULT_CAPTURE_PROCESSING);
  t.teardown(() => processor.close());
  t.is(processor.process(new Int16Array(480), null).length, 480);
  t.is(processor.process(new Int16Array(960), new Int16Array(960)).length, 960);
  t.throws(() => processor.process(new Int16Array(441), null), { instanceOf: RangeError, message: /480-sample \(10 ms\) blocks, got 441/ });
  t.throws(() => processor.process(new Int16Array(0), null), { instanceOf: RangeError });
  t.throws(() => processor.process(new Int16Array(960), new Int16Array(480)), { instanceOf: RangeError, message: /reference has 480 samples for a mic frame of 960/ });
});

test('refuses an echo tail outside 50-500 ms', (t) => {
  for (const echoTailMs of [0, 49, 501, 120.5]) t.throws(() => new CaptureProcessor({ ...DEFAULT_CAPTURE_PROCESSING, echoTailMs }), { instanceOf: RangeError, message: /echoTailMs/ });
});

test('on a call with echo its figures show the echo path and a converged canceller', async (t) => {
  const processor = new CaptureProcessor(DEFAULT_CAPTURE_PROCESSING);
  t.teardown(() => processor.close());
  const far = (await farEndSpeech()).subarray(0, 6 * S);
  const scene = renderScene({ path: { delayMs: 10, rt60Ms: 300, couplingDb: -6, seed: 21 }, farEnd: far });
  t.is(processor.figures().erleDb, null, 'nothing to say before any far-end speech');
  processScene(scene, processor);
  const figures = processor.figures();
  t.log(JSON.stringify(figures));
  t.true(figures.enabled && figures.echoCancellation && figures.noiseSuppression && figures.gainControl);
  t.is(figures.addedDelayMs, 10);
  t.is(figures.framesProcessed, 300);
  t.true(figures.farEndActiveSeconds > 3 && figures.farEndActiveSeconds <= 6);
  t.true(figures.converged);
  t.true(figures.erleDb! > 25, `ERLE estimate ${figures.erleDb}`);
  t.true(Math.abs(figures.echoReturnLossDb! - 6) < 3, `echo return loss ${figures.echoReturnLossDb} for a -6 dB path`);
  t.true(figures.gatedShare > 0.2);
  t.is(figures.echoDelayMs, 10, 'the delay tracker found the 10 ms path');
  t.is(figures.referenceDelayMs, 0, 'and the reference stays undelayed while the path does not change');
  t.is(processor.echoImpulseResponse()!.length, 9600);
});

test('with no echo coming back (a handset, the speaker turned down), a visitor talking over the far end is not turned down', async (t) => {
  // The mic hears only the visitor; the speaker plays the flat. The canceller has nothing to
  // remove, so the gate (which judges near-end speech by what the canceller removes) took every
  // block for echo: 5 dB off the visitor on average, 7.5 dB in the worst second.
  const near = (await nearEndSpeech()).subarray(0, 8 * S);
  const far = (await farEndSpeech()).subarray(0, 8 * S);
  const run = (reference: Int16Array | null) => {
    const processor = new CaptureProcessor({ ...DEFAULT_CAPTURE_PROCESSING, gainControl: false });
    try {
      return { out: processScene({ mic: near, speaker: reference }, processor), figures: processor.figures() };
    } finally {
      processor.close();
    }
  };
  const alone = run(null);
  const overFarEnd = run(far);
  const perSecondLossDb = Array.from({ length: 6 }, (_, index) => levelDbfs(alone.out, (index + 2) * S, (index + 3) * S) - levelDbfs(overFarEnd.out, (index + 2) * S, (index + 3) * S));
  t.log(`the visitor's loss with the far end talking, per second from 2 s: ${perSecondLossDb.map((db) => db.toFixed(1)).join(' ')} dB; ${JSON.stringify(overFarEnd.figures)}`);
  t.is(overFarEnd.figures.echoDelayMs, null, 'no echo path to find');
  t.is(overFarEnd.figures.gatedShare, 0);
  t.true(Math.max(...perSecondLossDb) < 2.5, `at most 2.5 dB lost in any second: ${perSecondLossDb.map((db) => db.toFixed(1)).join(' ')}`);
});

test('after close() it refuses frames; closing twice is harmless', (t) => {
  const processor = new CaptureProcessor(DEFAULT_CAPTURE_PROCESSING);
  processor.close();
  processor.close();
  t.throws(() => processor.process(new Int16Array(960), null), { message: /closed/ });
});
