// The harness itself, checked with alsa-utils (arecord/aplay) so that a harness fault is not
// mistaken for a backend fault.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { findSignal, testSignal } from '../support/alsa-signal.js';

const RAW = ['-t', 'raw', '-f', 'S16_LE', '-r', '48000', '-c', '1', '-q'];
// The file plugin reads the mic FIFO cleanly only in 20 ms-friendly periods (ENVIRONMENT.md).
const PERIODS = ['--period-size=960', '--buffer-size=3840'];

test.serial('aplay into a virtual speaker comes out byte-exact, at the real-time rate', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
  t.teardown(() => alsa.dispose());
  const signal = testSignal(48_000, 7); // 1 s
  const aplay = spawn('aplay', ['-D', 'spk_a', ...PERIODS, ...RAW, '-'], { env: { ...process.env, ...alsa.env }, stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => aplay.kill('SIGKILL'));
  const exited = once(aplay, 'exit');
  const started = performance.now();
  aplay.stdin.end(Buffer.from(signal.buffer));
  const heard = await alsa.speaker('spk_a').waitForSignal(signal, { timeoutMs: 5_000 });
  const elapsed = performance.now() - started;
  t.true(heard.index >= 0);
  // Paced by the harness: 1 s of audio cannot come out much faster than 1 s.
  const lastSampleAt = alsa.speaker('spk_a').timeOfSample(heard.index + signal.length - 1)!;
  t.true(lastSampleAt - alsa.speaker('spk_a').timeOfSample(heard.index)! > 850, `1 s of audio took ${lastSampleAt - heard.time} ms`);
  t.true(elapsed < 3_000);
  await exited;
});

test.serial('a signal played into a virtual mic is captured byte-exact by arecord', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
  t.teardown(() => alsa.dispose());
  const arecord = spawn('arecord', ['-D', 'mic_a', ...PERIODS, ...RAW, '-d', '2', '-'], { env: { ...process.env, ...alsa.env }, stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => arecord.kill('SIGKILL'));
  const exited = once(arecord, 'exit');
  const started = performance.now();
  const chunks: Buffer[] = [];
  arecord.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  // Played once arecord captures (its first data): a busy machine can take longer than a fixed
  // wait to start it, and the mic's queue would overflow meanwhile.
  await once(arecord.stdout, 'data');
  const signal = testSignal(24_000, 3);
  await alsa.mic('mic_a').play(signal);
  await exited;
  t.true(performance.now() - started > 1_800, 'the mic runs in real time: 2 s of capture take 2 s');
  const bytes = Buffer.concat(chunks);
  const captured = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  t.true(findSignal(captured, signal) >= 0, `the signal is in the ${captured.length} samples captured`);
  t.is(alsa.mic('mic_a').framesDropped, 0, 'the mic dropped no frame');
});

test.serial('two independent pairs do not leak into each other, and dispose removes everything', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'] });
  const config = readFileSync(alsa.configPath, 'utf8');
  t.regex(config, /pcm\.mic_b \{ type plug/);
  t.regex(config, /pcm\.!default \{ type asym {2}playback\.pcm "spk_a" {2}capture\.pcm "mic_a" \}/);
  const signal = testSignal(9_600, 11);
  const aplay = spawn('aplay', ['-D', 'spk_b', ...PERIODS, ...RAW, '-'], { env: { ...process.env, ...alsa.env }, stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = once(aplay, 'exit');
  aplay.stdin.end(Buffer.from(signal.buffer));
  await alsa.speaker('spk_b').waitForSignal(signal);
  await exited;
  t.is(alsa.speaker('spk_a').sampleCount, 0);
  t.throws(() => alsa.mic('nope'), { message: /no virtual mic "nope" \(have: mic_a, mic_b\)/ });
  await alsa.dispose();
  t.false(existsSync(alsa.dir));
  await alsa.dispose();
});

test.serial('a mic nothing captures from reports its queued signal as lost rather than pretending', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: [] });
  t.teardown(() => alsa.dispose());
  // 64 KiB of pipe fill up after ~0.7 s of unread frames.
  await new Promise((resolve) => setTimeout(resolve, 900));
  await t.throwsAsync(alsa.mic('mic_a').play(testSignal(960)), { message: /FIFO full, nothing is capturing/ });
  t.true(alsa.mic('mic_a').framesDropped > 0);
});

test.serial('a stall of the harness process skips the time on the mic, as on the speaker: no burst runs capture ahead of the clock', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: [] });
  t.teardown(() => alsa.dispose());
  const arecord = spawn('arecord', ['-D', 'mic_a', ...PERIODS, ...RAW, '-'], { env: { ...process.env, ...alsa.env }, stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => arecord.kill('SIGKILL'));
  let captured = 0;
  arecord.stdout.on('data', (chunk: Buffer) => (captured += chunk.length / 2));
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
  await settle();
  const [before, startedAt] = [captured, performance.now()];
  const stallUntil = performance.now() + 600;
  while (performance.now() < stallUntil); // the harness's own process stops, as a loaded machine can stop it
  await settle();
  const capturedMs = (captured - before) / 48;
  const elapsedMs = performance.now() - startedAt;
  t.log(`${elapsedMs.toFixed(0)} ms passed, ${capturedMs.toFixed(0)} ms captured, ${alsa.mic('mic_a').framesSkipped} frames skipped`);
  // Before: every frame due in the stall came at once, and capture ran 0.6 s ahead of the speakers for good.
  t.true(capturedMs < elapsedMs - 450, `${capturedMs.toFixed(0)} ms captured in ${elapsedMs.toFixed(0)} ms with a 600 ms stall`);
  t.true(alsa.mic('mic_a').framesSkipped >= 25);
});

test.serial("the sound of the time a stall skipped is lost, not delayed: after it the mic plays what is due by the clock", async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: [] });
  t.teardown(() => alsa.dispose());
  const arecord = spawn('arecord', ['-D', 'mic_a', ...PERIODS, ...RAW, '-'], { env: { ...process.env, ...alsa.env }, stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => arecord.kill('SIGKILL'));
  const chunks: Buffer[] = [];
  arecord.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await wait(500);
  // 3 s of signal whose every 20 ms frame holds its own number (1000 + k), to tell which frame is heard.
  const signal = new Int16Array(150 * 960);
  for (let k = 0; k < 150; k += 1) signal.fill(1000 + k, k * 960, (k + 1) * 960);
  const startedAt = await alsa.mic('mic_a').play(signal);
  await wait(300);
  const stallUntil = performance.now() + 600;
  while (performance.now() < stallUntil); // the harness's own process stops
  await wait(500);
  const dueFrame = Math.floor((performance.now() - startedAt) / 20);
  const joined = Buffer.concat(chunks);
  const captured = new Int16Array(joined.buffer, joined.byteOffset, Math.floor(joined.length / 2));
  const heard: number[] = [];
  for (const value of captured) if (value >= 1000 && value < 1150 && value - 1000 !== heard.at(-1)) heard.push(value - 1000);
  const lastHeard = heard.at(-1) ?? -1;
  const largestGap = Math.max(...heard.slice(1).map((frame, index) => frame - heard[index]));
  t.log(`due frame ${dueFrame}, last heard ${lastHeard}, largest gap ${largestGap} frames, ${alsa.mic('mic_a').framesSkipped} skipped`);
  // The frames of the stall are missing, and what plays now is what the clock says (within the
  // capture's own buffering); before, the signal went on where it stopped, 0.6 s late for good.
  t.true(largestGap >= 20, `largest gap ${largestGap} frames`);
  t.true(lastHeard >= dueFrame - 8, `frame ${lastHeard} heard when frame ${dueFrame} was due`);
});
