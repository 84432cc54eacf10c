// The real naudiodon backend (PortAudio in an audio host child process) against virtual ALSA
// devices. Serial: the latency figures mean something only without other tests competing.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { AudioDeviceNotFoundError } from '../../src/audio/audio-backend.js';
import { AudioHostError } from '../../src/audio/audio-host-process.js';
import { NaudiodonBackend } from '../../src/audio/naudiodon-backend.js';
import type { HostStreamStats } from '../../src/audio/host-protocol.js';
import { createVirtualAlsa, type VirtualAlsa } from '../support/virtual-alsa.js';
import { concatPcm, findSignal, testSignal } from '../support/alsa-signal.js';

const FRAME = 960;
const here = path.dirname(fileURLToPath(import.meta.url));

/** This process's TypeScript loader, resolved so that a child with another working directory finds it. */
function loaderArgs(): string[] {
  return [`--import=${import.meta.resolve('tsx')}`];
}

function isRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setUp(t: { teardown(fn: () => unknown): void }, options: { mics?: string[]; speakers?: string[] } = {}) {
  const alsa: VirtualAlsa = await createVirtualAlsa({ mics: options.mics ?? ['mic_a'], speakers: options.speakers ?? ['spk_a'] });
  const backend = new NaudiodonBackend({ env: { ...process.env, ...alsa.env } });
  t.teardown(async () => {
    await backend.close();
    await alsa.dispose();
  });
  return { alsa, backend };
}

test.serial('lists the virtual devices by their ALSA names', async (t) => {
  const { backend } = await setUp(t);
  const names = (await backend.listDevices()).map((device) => device.name);
  for (const name of ['mic_a', 'spk_a', 'default']) t.true(names.includes(name), `${name} in ${names.join(', ')}`);
  t.is(backend.hostCount, 0);
});

test.serial('captures a signal fed into the mic sample-exact, in frames of exactly frameSamples', async (t) => {
  const { alsa, backend } = await setUp(t);
  const frames: { pcm: Int16Array; at: number }[] = [];
  const stream = await backend.openCapture({ device: 'mic_a', frameSamples: FRAME, onFrame: (pcm) => frames.push({ pcm, at: performance.now() }) });
  t.is(stream.deviceName, 'mic_a');
  await until(() => frames.length >= 10, 5_000, 'capture to start');
  const signal = testSignal(24_000, 5); // 0.5 s
  const firstFrameBefore = frames.length;
  const writtenAt = await alsa.mic('mic_a').play(signal);
  await until(() => frames.length >= firstFrameBefore + 40, 5_000, 'the signal to be captured');
  t.true(frames.every((frame) => frame.pcm.length === FRAME));
  const captured = concatPcm(frames.map((frame) => frame.pcm));
  const at = findSignal(captured, signal);
  t.true(at >= 0, 'the whole signal arrives bit-exact');
  const frameOfStart = Math.floor(at / FRAME);
  const latency = frames[frameOfStart].at - writtenAt;
  t.log(`mic FIFO -> onFrame: ${latency.toFixed(1)} ms (signal at sample ${at % FRAME} of its frame); host -> parent ${JSON.stringify(stream.stats().hostToParentMs)}`);
  t.true(latency >= 0 && latency < 100, `capture latency ${latency} ms`);
  // The harness's clock paces capture: about 50 frames per second, not a burst.
  const before = frames.length;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.true(Math.abs(frames.length - before - 50) <= 5, `${frames.length - before} frames in 1 s`);
});

test.serial('plays what nextFrame returns; it comes out of the speaker sample-exact, paced by the device', async (t) => {
  const { alsa, backend } = await setUp(t);
  const signal = testSignal(FRAME * 25, 9); // 0.5 s
  let pulls = 0;
  let signalStartsAt: number | undefined; // when nextFrame returned the signal's first frame
  let playSignalFrom: number | undefined;
  const stream = await backend.openPlayback({
    device: 'spk_a',
    frameSamples: FRAME,
    nextFrame: () => {
      pulls += 1;
      if (playSignalFrom === undefined && pulls === 30) playSignalFrom = pulls;
      if (playSignalFrom !== undefined) {
        const index = pulls - playSignalFrom;
        if (index === 0) signalStartsAt = performance.now();
        if (index < 25) return signal.slice(index * FRAME, (index + 1) * FRAME);
      }
      return new Int16Array(FRAME);
    },
  });
  const heard = await alsa.speaker('spk_a').waitForSignal(signal, { timeoutMs: 5_000 });
  const latency = heard.time - signalStartsAt!;
  t.log(`nextFrame -> speaker FIFO read: ${latency.toFixed(1)} ms (incl. the harness's 42.7 ms speaker pipe)`);
  t.true(latency > 0 && latency < 250, `playback latency ${latency} ms`);
  const pullsBefore = pulls;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.true(Math.abs(pulls - pullsBefore - 50) <= 6, `${pulls - pullsBefore} pulls in 1 s`);
  t.is(stream.stats().callbackErrors, 0);
});

test.serial('between calls the devices keep running without the service: playback plays silence on its own, capture stops handing frames on', async (t) => {
  const { alsa, backend } = await setUp(t);
  const signal = testSignal(FRAME * 25, 5);
  let pulls = 0;
  let captured = 0;
  let signalFrom: number | undefined;
  const playback = await backend.openPlayback({
    device: 'spk_a',
    frameSamples: FRAME,
    nextFrame: () => {
      pulls += 1;
      signalFrom ??= pulls;
      // Half a second of signal, half of silence, again and again: one late frame on a busy
      // machine breaks one repetition, not the test.
      const index = (pulls - signalFrom) % 50;
      return index < 25 ? signal.slice(index * FRAME, (index + 1) * FRAME) : new Int16Array(FRAME);
    },
  });
  const capture = await backend.openCapture({ device: 'mic_a', frameSamples: FRAME, onFrame: () => (captured += 1) });
  const speaker = alsa.speaker('spk_a');
  await until(() => captured > 5 && pulls > 30, 3_000, 'both streams relaying');
  playback.setRelaying(false);
  capture.setRelaying(false);
  // Frames the service handed over before the switch are still queued in the device layer, and
  // more of them on a busy machine: judge once the speaker has played a run of silence longer than
  // any in the relayed pattern (25 frames), so the relayed stream has certainly drained.
  const switchedAt = speaker.sampleCount;
  const drainedRun = FRAME * 40;
  await until(() => trailingZeros(speaker.samples(), switchedAt) >= drainedRun, 8_000, 'the relayed stream drained from the speaker');
  const [pullsOff, capturedOff] = [pulls, captured];
  const heardBefore = speaker.sampleCount;
  await until(() => speaker.sampleCount - heardBefore >= FRAME * 25, 5_000, 'half a second more from the idle speaker');
  t.is(pulls, pullsOff, 'the idle speaker asked the service for nothing');
  t.is(captured, capturedOff, 'the idle microphone handed the service nothing');
  t.true(speaker.samples().subarray(heardBefore).every((sample) => sample === 0), 'the idle speaker played silence');

  signalFrom = undefined;
  playback.setRelaying(true);
  capture.setRelaying(true);
  await speaker.waitForSignal(signal, { from: speaker.sampleCount, timeoutMs: 15_000 });
  await until(() => captured > capturedOff + 10, 3_000, 'captured frames again');
  t.pass();
});

test.serial('a device that matches nothing is refused with the list of what exists', async (t) => {
  const { backend } = await setUp(t);
  const error = await t.throwsAsync(backend.openCapture({ device: 'usb headset', frameSamples: FRAME, onFrame: () => undefined }), {
    instanceOf: AudioDeviceNotFoundError,
  });
  t.true(error!.available.includes('mic_a'));
  t.regex(error!.message, /no capture device matches "usb headset"; available capture devices: .*"mic_a"/);
  // A case-insensitive substring; the first device in the system's order wins ("spk_a_raw" before "spk_a").
  const bySubstring = await backend.openPlayback({ device: 'PK_A', frameSamples: FRAME, nextFrame: () => new Int16Array(FRAME) });
  t.is(bySubstring.deviceName, 'spk_a_raw');
  await bySubstring.close();
  t.is(backend.hostCount, 0);
});

test.serial('with no sound devices at all: listDevices is empty and opening fails fast', async (t) => {
  const { backend } = await setUp(t, { mics: [], speakers: [] });
  t.deepEqual(await backend.listDevices(), []);
  const started = performance.now();
  const error = await t.throwsAsync(backend.openPlayback({ device: 'default', frameSamples: FRAME, nextFrame: () => new Int16Array(FRAME) }), {
    instanceOf: AudioDeviceNotFoundError,
  });
  t.deepEqual(error!.available, []);
  t.true(performance.now() - started < 5_000);
});

test.serial('a device whose FIFO nobody holds blocks PortAudio: listing gives up instead of hanging', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-unheld-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('mkfifo', [path.join(dir, 'mic.fifo')]);
  const config = path.join(dir, 'asoundrc');
  writeFileSync(config, `</usr/share/alsa/alsa.conf>\npcm.lonely { type file  slave.pcm "null"  file "/dev/null"  infile "${dir}/mic.fifo"  format "raw" }\n`);
  const backend = new NaudiodonBackend({ env: { ...process.env, ALSA_CONFIG_PATH: config }, startTimeoutMs: 1_500 });
  t.teardown(() => backend.close());
  const started = performance.now();
  await t.throwsAsync(backend.listDevices(), { instanceOf: AudioHostError, message: /did not answer "list" within 1500 ms/ });
  await t.throwsAsync(backend.openCapture({ device: 'lonely', frameSamples: FRAME, onFrame: () => undefined }), { instanceOf: AudioHostError });
  t.true(performance.now() - started < 6_000);
  await until(() => backend.hostCount === 0, 3_000, 'the stuck hosts to be killed');
  t.pass();
});

test.serial('a host that is slow to start (a small board loading Node) does not use up the time its device may take', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
  // Every audio host spends 2.5 s before its first line runs; the device itself gets 1.5 s.
  const slowStart = '--import=data:text/javascript,const%20until=Date.now()+2500;while(Date.now()<until);';
  const backend = new NaudiodonBackend({ env: { ...process.env, ...alsa.env, NODE_OPTIONS: slowStart }, startTimeoutMs: 1_500 });
  t.teardown(async () => {
    await backend.close();
    await alsa.dispose();
  });
  const started = performance.now();
  const capture = await backend.openCapture({ device: 'mic_a', frameSamples: FRAME, onFrame: () => undefined });
  t.true(performance.now() - started >= 2_500, 'the host really was slow');
  t.is(capture.deviceName, 'mic_a');
  await capture.close();
});

test.serial('opening many times leaves no audio host behind', async (t) => {
  const { backend } = await setUp(t);
  const pids: (number | undefined)[] = [];
  for (let round = 0; round < 8; round += 1) {
    const capture = await backend.openCapture({ device: 'mic_a', frameSamples: FRAME, onFrame: () => undefined });
    const playback = await backend.openPlayback({ device: 'spk_a', frameSamples: FRAME, nextFrame: () => new Int16Array(FRAME) });
    pids.push(capture.hostPid, playback.hostPid);
    await Promise.all([capture.close(), playback.close()]);
  }
  t.is(backend.hostCount, 0);
  t.deepEqual(pids.filter(isRunning), []);
});

test.serial('close() returns while the devices are stalled', async (t) => {
  const { alsa, backend } = await setUp(t);
  let frames = 0;
  const capture = await backend.openCapture({ device: 'mic_a', frameSamples: FRAME, onFrame: () => (frames += 1) });
  const playback = await backend.openPlayback({ device: 'spk_a', frameSamples: FRAME, nextFrame: () => new Int16Array(FRAME) });
  await until(() => frames > 5, 5_000, 'capture to run');
  alsa.mic('mic_a').stall();
  alsa.speaker('spk_a').stall();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  await Promise.all([capture.close(), playback.close()]);
  const took = performance.now() - started;
  t.log(`close during stall took ${took.toFixed(0)} ms`);
  t.true(took < 3_000);
  t.false(isRunning(capture.hostPid));
  t.false(isRunning(playback.hostPid));
});

test.serial('a host that dies is reported through onError', async (t) => {
  const { backend } = await setUp(t);
  const errors: Error[] = [];
  const capture = await backend.openCapture({ device: 'mic_a', frameSamples: FRAME, onFrame: () => undefined, onError: (error) => errors.push(error) });
  process.kill(capture.hostPid!, 'SIGKILL');
  await until(() => errors.length > 0, 5_000, 'onError');
  t.regex(errors[0].message, /capture audio host for "mic_a" exited unexpectedly \(signal SIGKILL\)/);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(errors.length, 1);
  await capture.close();
});

/**
 * Runs a stand-in service (fixtures/stand-in-service.ts) in its own process, since blocking this one would
 * stop the harness's clock too; returns the host's counts it printed.
 */
async function runStandInService(t: ExecutionContext, behaviour: { answerMs?: number; stallAtPull?: number; stallMs?: number; seconds: number }) {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
  t.teardown(() => alsa.dispose());
  const child = spawn(process.execPath, [...loaderArgs(), path.join(here, 'fixtures/stand-in-service.ts'), JSON.stringify(behaviour)], {
    env: { ...process.env, ...alsa.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  t.is(code, 0);
  return { alsa, report: JSON.parse(stdout) as { pulls: number } & HostStreamStats };
}

test.serial('when the service is late the device plays silence instead of stalling', async (t) => {
  const { alsa, report } = await runStandInService(t, { stallAtPull: 20, stallMs: 200, seconds: 1.5 }); // blocks once, for 200 ms
  const speaker = alsa.speaker('spk_a');
  const heard = speaker.samples();
  const start = heard.indexOf(1000);
  const end = heard.lastIndexOf(1000);
  t.true(start >= 0 && end > start);
  let silentRun = 0;
  let longest = 0;
  for (let index = start; index <= end; index += 1) {
    silentRun = heard[index] === 0 ? silentRun + 1 : 0;
    longest = Math.max(longest, silentRun);
  }
  t.log(`service blocked 200 ms: longest silence ${(longest / 48).toFixed(1)} ms, host inserted ${report.silenceInserted} silent frames`);
  t.true(report.silenceInserted >= 5, 'the host filled the gap itself');
  t.true(longest >= FRAME * 5, 'the gap came out as silence');
  // The device kept its clock: audio left the speaker at the real-time rate throughout.
  const seconds = (speaker.timeOfSample(end)! - speaker.timeOfSample(start)!) / 1000;
  t.true(Math.abs((end - start) / seconds - 48_000) < 4_000, `${((end - start) / seconds).toFixed(0)} samples/s`);
});

test.serial('a service that keeps answering late is asked ahead (a frame per step), and then plays (almost) without gaps', async (t) => {
  const { alsa, report } = await runStandInService(t, { answerMs: 14, seconds: 4 }); // longer than the half frame the host waits
  const heard = alsa.speaker('spk_a').samples();
  const end = heard.lastIndexOf(1000);
  // The last 2 s the service played, after the first few misses.
  const tail = heard.subarray(end - 2 * 48_000, end);
  const silentSamples = tail.reduce((count, sample) => count + (sample === 0 ? 1 : 0), 0);
  t.log(`service answering in 14 ms: ${report.silenceInserted} silent frames inserted in all, ${silentSamples} silent samples in the last 2 s, lead ${report.leadFrames} frame(s)`);
  // PortAudio here takes two frames at once, so one frame ahead is not enough: two are.
  t.true(report.leadFrames >= 1 && report.leadFrames <= 3, 'the host asks ahead');
  t.true(report.silenceInserted >= 3, 'the misses that made it ask ahead happened');
  // Without the lead, about every other frame of those 2 s is silence (~48 frames); with it, a
  // busy machine may still cost a frame now and then.
  t.true(silentSamples <= 3 * FRAME, `hardly a gap once it asks ahead (${silentSamples / FRAME} frames of silence)`);
});

test.serial("the host's chatter never reaches the service's stdout, and no crash.log lands in its directory", async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'intercom-cwd-'));
  t.teardown(async () => {
    await alsa.dispose();
    rmSync(cwd, { recursive: true, force: true });
  });
  const child = spawn(process.execPath, [...loaderArgs(), path.join(here, 'fixtures/open-both-briefly.ts')], {
    cwd,
    env: { ...process.env, ...alsa.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  t.is(code, 0, stderr);
  const lines = stdout.trim().split('\n');
  const records = lines.map((line) => JSON.parse(line) as { msg: string; suppressed?: number; level: number });
  t.true(records.some((record) => record.msg === 'audio device opened'));
  t.true(records.some((record) => record.msg === 'audio library messages suppressed' && record.suppressed! > 10));
  t.true(records.some((record) => /PortAudio V19/.test(record.msg)), 'naudiodon printf()s arrive as debug log records');
  t.false(existsSync(path.join(cwd, 'crash.log')));
  t.is(stderr, '');
});

/** How many samples at the end of `samples` (after `from`) are zero. */
function trailingZeros(samples: Int16Array, from: number): number {
  let count = 0;
  for (let index = samples.length - 1; index >= from && samples[index] === 0; index -= 1) count += 1;
  return count;
}
