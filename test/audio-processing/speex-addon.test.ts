import test from 'ava';
import { loadSpeexAddon, type SpeexProcessorOptions } from '../../src/audio-processing/speex-addon.js';

// The speexdsp addon is C handed arrays from JavaScript: every bad argument must be a thrown
// error, never a read or write outside the arrays, and a closed processor must refuse work.

const OPTIONS: SpeexProcessorOptions = {
  sampleRate: 48_000,
  blockSamples: 480,
  echoFilterSamples: 9_600,
  preprocess: true,
  denoise: true,
  noiseSuppressDb: -20,
  echoSuppressDb: -45,
  echoSuppressActiveDb: -15,
};
const { SpeexProcessor } = loadSpeexAddon();

function tone(samples: number, frequency: number, amplitude: number, phase = 0): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * frequency * (i + phase)) / 48_000)));
}

test('processes whole blocks, reports the energies, and the output lags one block behind the preprocessor', (t) => {
  const processor = new SpeexProcessor({ ...OPTIONS, echoFilterSamples: 0, denoise: false });
  t.teardown(() => processor.close());
  const figures = new Float64Array(5);
  const out = new Int16Array(960);
  const mic = tone(960, 1000, 8000);
  processor.process(mic, null, out, figures);
  const micEnergy = mic.reduce((sum, value) => sum + value * value, 0);
  t.is(figures[0], micEnergy);
  t.is(figures[1], 0, 'no reference is silence');
  t.is(figures[2], micEnergy, 'without a canceller its output is the mic');
  // The first output block is the preprocessor's start-up (one block of lag), the second the first input block.
  const firstBlockEnergy = out.subarray(0, 480).reduce((sum, value) => sum + value * value, 0);
  t.true(firstBlockEnergy < micEnergy / 100);
  t.true(figures[4] >= 0 && figures[4] <= 1);
});

test('without the preprocessor the canceller alone runs, in step with the mic, and cancels a plain echo', (t) => {
  const processor = new SpeexProcessor({ ...OPTIONS, preprocess: false });
  t.teardown(() => processor.close());
  // A noise-like reference and its echo: 5 ms later at half amplitude.
  let state = 1;
  const random = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const reference = Int16Array.from({ length: 48_000 * 4 }, () => Math.round(6000 * random()));
  const mic = new Int16Array(reference.length);
  for (let i = 240; i < mic.length; i += 1) mic[i] = reference[i - 240] >> 1;
  const out = new Int16Array(mic.length);
  for (let start = 0; start < mic.length; start += 4_800) processor.process(mic.subarray(start, start + 4_800), reference.subarray(start, start + 4_800), out.subarray(start, start + 4_800));
  const energy = (signal: Int16Array, from: number) => signal.subarray(from).reduce((sum, value) => sum + value * value, 0);
  const erle = 10 * Math.log10(energy(mic, 48_000 * 3) / energy(out, 48_000 * 3));
  t.log(`ERLE of the last second: ${erle.toFixed(1)} dB`);
  t.true(erle > 20);
  const response = processor.impulseResponse();
  t.truthy(response);
  t.is(response!.length, 9_600);
  const peak = response!.reduce((best, value, index) => (Math.abs(value) > Math.abs(response![best]) ? index : best), 0);
  t.true(Math.abs(peak - 240) <= 2, `learnt echo path peaks at ${peak}`);
});

test('output may be the mic array itself', (t) => {
  const processor = new SpeexProcessor({ ...OPTIONS, preprocess: false, echoFilterSamples: 0 });
  t.teardown(() => processor.close());
  const mic = tone(480, 440, 5000);
  const copy = mic.slice();
  processor.process(mic, null, mic);
  // The DC notch changes samples slightly; the tone is still the tone.
  let difference = 0;
  for (let i = 100; i < 480; i += 1) difference = Math.max(difference, Math.abs(mic[i] - copy[i]));
  t.true(difference < 200);
});

test('bad arguments throw instead of touching memory', (t) => {
  const processor = new SpeexProcessor(OPTIONS);
  t.teardown(() => processor.close());
  const frame = new Int16Array(480);
  t.throws(() => processor.process(new Int16Array(481), null, new Int16Array(481)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => processor.process(new Int16Array(0), null, new Int16Array(0)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => processor.process(new Int16Array(48_480), null, new Int16Array(48_480)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => processor.process(frame, new Int16Array(960), new Int16Array(480)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => processor.process(frame, null, new Int16Array(960)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => processor.process(new Float32Array(480) as unknown as Int16Array, null, frame), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => processor.process(frame, [] as unknown as Int16Array, frame), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => processor.process(frame, null, frame, new Float64Array(4)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => processor.process(frame, null, frame, new Float32Array(5) as unknown as Float64Array), { code: 'ERR_INVALID_ARG_TYPE' });
  const process = processor.process;
  t.throws(() => process.call({}, frame, null, frame), { instanceOf: TypeError });
});

test('bad options are refused by name', (t) => {
  t.throws(() => new SpeexProcessor({ ...OPTIONS, blockSamples: 10 }), { code: 'ERR_OUT_OF_RANGE', message: /blockSamples/ });
  t.throws(() => new SpeexProcessor({ ...OPTIONS, echoFilterSamples: 100 }), { code: 'ERR_OUT_OF_RANGE', message: /echoFilterSamples/ });
  t.throws(() => new SpeexProcessor({ ...OPTIONS, noiseSuppressDb: 3 }), { code: 'ERR_OUT_OF_RANGE', message: /noiseSuppressDb/ });
  t.throws(() => new SpeexProcessor({ ...OPTIONS, denoise: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE', message: /denoise/ });
  t.throws(() => new SpeexProcessor(undefined as unknown as SpeexProcessorOptions), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => (SpeexProcessor as unknown as (options: SpeexProcessorOptions) => void)(OPTIONS), { code: 'ERR_CONSTRUCT_CALL_REQUIRED' });
});

test('close() frees the state; afterwards work is refused and closing again is harmless', (t) => {
  const processor = new SpeexProcessor(OPTIONS);
  processor.close();
  processor.close();
  const frame = new Int16Array(480);
  t.throws(() => processor.process(frame, null, frame), { code: 'ERR_SPEEX_CLOSED' });
  t.throws(() => processor.reset(), { code: 'ERR_SPEEX_CLOSED' });
  t.throws(() => processor.impulseResponse(), { code: 'ERR_SPEEX_CLOSED' });
});

test('reset() forgets the learnt echo path', (t) => {
  const processor = new SpeexProcessor({ ...OPTIONS, preprocess: false });
  t.teardown(() => processor.close());
  const reference = tone(48_000, 700, 6000);
  const mic = new Int16Array(reference.length);
  for (let i = 96; i < mic.length; i += 1) mic[i] = reference[i - 96] >> 1;
  const out = new Int16Array(mic.length);
  for (let start = 0; start < mic.length; start += 4_800) processor.process(mic.subarray(start, start + 4_800), reference.subarray(start, start + 4_800), out.subarray(start, start + 4_800));
  const learnt = processor.impulseResponse()!.reduce((sum, value) => sum + value * value, 0);
  processor.reset();
  const forgotten = processor.impulseResponse()!.reduce((sum, value) => sum + value * value, 0);
  t.true(learnt > 0.01);
  t.is(forgotten, 0);
});
