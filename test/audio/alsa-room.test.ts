// The room simulator on the paced virtual devices, checked with alsa-utils: what aplay plays into
// a unit's virtual speaker comes back into its virtual mic (which arecord reads) through the echo
// path, at the configured coupling, with a steady delay, mixed with what the mic was given to say.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { joinRoom } from '../support/room-simulator/alsa-room.js';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { testSignal } from '../support/alsa-signal.js';
import { crossCorrelate } from '../../src/signal/fft.js';
import { toneShare } from '../support/audio-analysis.js';

const RAW = ['-t', 'raw', '-f', 'S16_LE', '-r', '48000', '-c', '1', '-q'];
const PERIODS = ['--period-size=960', '--buffer-size=3840'];
const S = 48_000;

function energy(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i += 1) sum += samples[i] * samples[i];
  return sum;
}

/**
 * One run of the echo-path recording: aplay plays two signals into the virtual speaker while
 * arecord records the virtual mic. `dropped` counts mic frames the harness could not write while
 * the signals played (arecord not reading in time: a starved machine), which breaks the run's
 * timeline, so such a run is measured again instead of judged.
 */
async function recordEchoPath(t: ExecutionContext) {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
  t.teardown(() => alsa.dispose());
  const room = joinRoom(alsa, { speaker: 'spk_a', mic: 'mic_a', path: { delayMs: 10, rt60Ms: 200, couplingDb: -6, directToReverberantDb: 10, seed: 5 } });
  t.teardown(() => room.dispose());
  const env = { ...process.env, ...alsa.env };

  const arecord = spawn('arecord', ['-D', 'mic_a', ...PERIODS, ...RAW, '-d', '6', '-'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => arecord.kill('SIGKILL'));
  const recorded: Buffer[] = [];
  arecord.stdout.on('data', (chunk: Buffer) => recorded.push(chunk));
  const recordingDone = once(arecord, 'exit');

  // 1 s of signal A, 1 s of silence, 1 s of signal B, 1 s of silence: one continuous playback.
  // B is A backwards (a falling chirp): the two cannot be mistaken for each other.
  const a = testSignal(S, 21);
  const b = a.slice().reverse();
  const played = new Int16Array(4 * S);
  played.set(a, 0);
  played.set(b, 2 * S);
  const aplay = spawn('aplay', ['-D', 'spk_a', ...PERIODS, ...RAW, '-'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => aplay.kill('SIGKILL'));
  const playbackDone = once(aplay, 'exit');
  aplay.stdin.end(Buffer.from(played.buffer));
  // The visitor hums at 300 Hz once the speaker has gone quiet.
  await alsa.speaker('spk_a').waitForSignal(a.subarray(0, 4_800), { timeoutMs: 10_000 });
  // Frames dropped before arecord started reading do not matter; from here on they would.
  const droppedBefore = alsa.mic('mic_a').framesDropped;
  const hum = Int16Array.from({ length: 0.5 * S }, (_, i) => Math.round(3000 * Math.sin((2 * Math.PI * 300 * i) / S)));
  setTimeout(() => void alsa.mic('mic_a').play(hum).catch(() => {}), 3_300);

  await Promise.all([playbackDone, recordingDone]);
  const bytes = Buffer.concat(recorded);
  const mic = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);

  // Where each signal's echo is in the recording: the direct sound makes a sharp correlation peak.
  const lagOf = (signal: Int16Array) => {
    const correlation = crossCorrelate(signal, mic, mic.length - signal.length);
    // Normalised by the mic's energy under the signal, so a loud stretch of anything else cannot win.
    let windowEnergy = energy(mic, 0, signal.length);
    let best = { lag: 0, score: -Infinity };
    for (let lag = 0; lag < correlation.length; lag += 1) {
      const score = correlation[lag] / Math.sqrt(windowEnergy + 1);
      if (score > best.score) best = { lag, score };
      windowEnergy += (mic[lag + signal.length] ?? 0) ** 2 - mic[lag] ** 2;
    }
    return best.lag;
  };
  const lagA = lagOf(a);
  const lagB = lagOf(b);
  const dropped = alsa.mic('mic_a').framesDropped - droppedBefore;
  t.log(`echo of A at ${lagA}, of B at ${lagB} samples; harness delay ${room.harnessDelayMs?.toFixed(1)} ms (spread ${room.harnessDelaySpreadMs?.toFixed(1)} ms), mic frames dropped while playing ${dropped}`);
  const echoSamplesDelivered = room.echoSamplesDelivered;
  room.dispose();
  await alsa.dispose();
  return { a, mic, lagA, lagB, dropped, echoSamplesDelivered };
}

test.serial('the speaker comes back into the mic through the echo path: coupling as set, a steady delay, near-end sound mixed in', async (t) => {
  let run = await recordEchoPath(t);
  // A mic frame the harness could not write (arecord not reading: a starved machine) breaks the
  // recording's timeline: such a run says nothing about the room, so it is measured again.
  for (let attempt = 2; run.dropped > 0 && attempt <= 3; attempt += 1) {
    t.log(`run ${attempt - 1} dropped ${run.dropped} mic frames (the machine did not keep up): measuring again`);
    run = await recordEchoPath(t);
  }
  const { a, mic, lagA, lagB, dropped, echoSamplesDelivered } = run;
  t.is(dropped, 0, 'the machine kept up with real time in one of three runs');
  t.true(Math.abs(lagB - lagA - 2 * S) <= 2, 'the echo delay is the same for both signals (no slips while the unit plays)');
  const couplingDb = 10 * Math.log10(energy(mic, lagA + 2_400, lagA + S - 2_400) / energy(a, 2_400, S - 2_400));
  t.log(`coupling ${couplingDb.toFixed(2)} dB`);
  t.true(Math.abs(couplingDb + 6) <= 1.5);
  t.true(echoSamplesDelivered >= 3 * S);
  // The hum went into the mic after the echoes.
  const humStart = mic.findIndex((value, index) => index > lagB + S + 4_800 && Math.abs(value) > 1_000);
  t.true(humStart > 0);
  t.true(toneShare(mic.subarray(humStart + 2_400, humStart + 14_400), 300) > 0.9);
});

test.serial('with fan noise and no playback the mic hears only the room, and dispose() leaves the devices as they were', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
  t.teardown(() => alsa.dispose());
  const room = joinRoom(alsa, { speaker: 'spk_a', mic: 'mic_a', path: { delayMs: 5, rt60Ms: 300, couplingDb: 0, seed: 6 }, noiseDbfs: -40 });
  const env = { ...process.env, ...alsa.env };
  const record = async () => {
    const arecord = spawn('arecord', ['-D', 'mic_a', ...PERIODS, ...RAW, '-d', '1', '-'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    t.teardown(() => arecord.kill('SIGKILL'));
    const chunks: Buffer[] = [];
    arecord.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(arecord, 'exit');
    const bytes = Buffer.concat(chunks);
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  };
  const noisy = await record();
  const level = 10 * Math.log10(energy(noisy, 4_800) / (noisy.length - 4_800) / 32768 ** 2);
  t.log(`room noise at the mic: ${level.toFixed(1)} dBFS`);
  t.true(Math.abs(level + 40) <= 1.5);
  room.dispose();
  const quiet = await record();
  t.is(energy(quiet, 4_800), 0);
});
