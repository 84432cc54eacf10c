import test from 'ava';
import { AudioDeviceNotFoundError } from '../../src/audio/audio-backend.js';
import { MemoryAudioBackend } from '../../src/audio/memory-backend.js';

const FRAME = 960;

test('queued capture samples arrive frame by frame on tick, then silence', async (t) => {
  const backend = new MemoryAudioBackend();
  const frames: Int16Array[] = [];
  await backend.openCapture({ device: 'default', frameSamples: FRAME, onFrame: (pcm) => frames.push(pcm) });
  const signal = Int16Array.from({ length: FRAME * 2 + 100 }, (_, index) => index + 1);
  backend.queueCapture(signal);
  backend.tick(4);
  t.is(frames.length, 4);
  t.deepEqual(frames[1], signal.subarray(FRAME, FRAME * 2));
  t.deepEqual(frames[2].subarray(0, 100), signal.subarray(FRAME * 2));
  t.true(frames[2].subarray(100).every((sample) => sample === 0));
  t.true(frames[3].every((sample) => sample === 0));
});

test('a capture source generates frames when nothing is queued', async (t) => {
  const backend = new MemoryAudioBackend();
  const frames: Int16Array[] = [];
  await backend.openCapture({ device: 'default', frameSamples: FRAME, onFrame: (pcm) => frames.push(pcm) });
  let n = 0;
  backend.setCaptureSource((samples) => new Int16Array(samples).fill(++n));
  backend.tick(3);
  t.deepEqual(frames.map((frame) => frame[0]), [1, 2, 3]);
});

test('playback is pulled by tick and recorded with the clock time', async (t) => {
  let clock = 1_000;
  const backend = new MemoryAudioBackend({ now: () => clock });
  let pulls = 0;
  const stream = await backend.openPlayback({ device: 'default', frameSamples: FRAME, nextFrame: () => new Int16Array(FRAME).fill(++pulls) });
  t.is(stream.deviceName, 'default');
  backend.tick();
  clock = 1_020;
  backend.tick();
  t.deepEqual(backend.played.map((frame) => [frame.at, frame.pcm[0]]), [
    [1_000, 1],
    [1_020, 2],
  ]);
  t.is(backend.playedSamples().length, FRAME * 2);
  await stream.close();
  backend.tick(5);
  t.is(pulls, 2);
  t.is(backend.openStreams(), 0);
});

test('the default clock is device time: 20 ms per tick of 960-sample frames', async (t) => {
  const backend = new MemoryAudioBackend();
  await backend.openPlayback({ device: 'default', frameSamples: FRAME, nextFrame: () => new Int16Array(FRAME) });
  backend.tick(3);
  t.deepEqual(backend.played.map((frame) => frame.at), [0, 20, 40]);
});

test('a wrong-sized playback frame breaks the contract loudly', async (t) => {
  const backend = new MemoryAudioBackend();
  await backend.openPlayback({ device: 'default', frameSamples: FRAME, nextFrame: () => new Int16Array(480) });
  t.throws(() => backend.tick(), { message: /returned 480 samples .* frameSamples is 960/ });
});

test('devices resolve as on the real backend; failures reach onError', async (t) => {
  const backend = new MemoryAudioBackend({
    devices: [{ id: 0, name: 'USB Audio Device: - (hw:1,0)', hostApi: 'memory', maxInputChannels: 1, maxOutputChannels: 2, defaultSampleRate: 48_000 }],
  });
  await t.throwsAsync(backend.openCapture({ device: 'hdmi', frameSamples: FRAME, onFrame: () => undefined }), { instanceOf: AudioDeviceNotFoundError });
  const errors: Error[] = [];
  const stream = await backend.openCapture({ device: 'usb', frameSamples: FRAME, onFrame: () => undefined, onError: (error) => errors.push(error) });
  t.is(stream.deviceName, 'USB Audio Device: - (hw:1,0)');
  backend.fail('capture');
  t.is(errors.length, 1);
  t.is(backend.openStreams('capture'), 0);
  await backend.close();
  await t.throwsAsync(backend.openPlayback({ device: 'usb', frameSamples: FRAME, nextFrame: () => new Int16Array(FRAME) }), { message: /closed/ });
});
