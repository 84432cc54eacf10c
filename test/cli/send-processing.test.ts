import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { runCli } from '../support/cli.js';
import { statusWhere } from './cli-events.js';
import { rms, samplesFromWav } from '../support/audio-analysis.js';
import { eventually } from '../support/eventually.js';

// `intercom send --mic --processing` as a real process on a virtual ALSA microphone, to
// `intercom recv --wav`: a steady hum (a 3 s tone) goes in; with the unit's noise suppression it
// is taken for noise and fades out within a second, without it it arrives whole.

const SECONDS = 3;
const HZ = 440;

function hum(): Int16Array {
  const samples = new Int16Array(SECONDS * 48_000);
  for (let i = 0; i < samples.length; i += 1) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * HZ * i) / 48_000));
  return samples;
}

/** The hum's level (dBFS) over its first 0.3 s after onset, and over its last second, as received. */
async function sendHum(t: ExecutionContext, processing: boolean): Promise<{ start: number; end: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-send-processing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const alsa = await createVirtualAlsa({ mics: ['procmic'], speakers: [] });
  t.teardown(() => alsa.dispose());
  const output = path.join(dir, 'out.wav');
  const receiver = runCli(['recv', '0', '--host', '127.0.0.1', '--min-delay', '100', '--wav', output, '--json']);
  t.teardown(() => receiver.child.kill('SIGKILL'));
  const { port } = await receiver.waitFor('listening');
  const sender = runCli(['send', '127.0.0.1', String(port), '--mic', 'procmic', '--backend', 'alsa', ...(processing ? ['--processing'] : []), '--json'], alsa.env);
  t.teardown(() => sender.child.kill('SIGKILL'));
  await statusWhere(receiver, (line) => line.packetsReceived > 0);
  const mic = alsa.mic('procmic');
  await mic.play(hum());
  await eventually('the hum written into the mic', async () => mic.queuedSamples === 0, 30_000);
  // The hum has been captured and sent (the sender's next status line counts it); a second more
  // arrives, which pushes the last of the hum out of the jitter buffer into the file.
  const linesNow = sender.lines.length;
  await statusWhere(sender, () => sender.lines.length > linesNow);
  const sentAfterHum = sender.lines.filter((line) => line.type === 'status').at(-1)!.packetsSent as number;
  await statusWhere(receiver, (line) => line.packetsReceived >= sentAfterHum + 50);
  sender.stop();
  t.is((await sender.exited).code, 0);
  receiver.stop();
  t.is((await receiver.exited).code, 0);

  const heard = samplesFromWav(await readFile(output));
  const window = 4_800;
  const level = (from: number, to: number) => 20 * Math.log10(Math.max(rms(heard.subarray(from, to)), 1) / 32768);
  const onset = heard.findIndex((sample) => Math.abs(sample) > 2000);
  t.true(onset >= 0, 'the hum arrived');
  const start = level(onset + window, onset + 4 * window);
  const end = level(onset + (SECONDS - 1) * 48_000, onset + SECONDS * 48_000 - window);
  t.log(`${processing ? 'with' : 'without'} --processing: ${start.toFixed(1)} dBFS at the start, ${end.toFixed(1)} dBFS in the last second`);
  return { start, end };
}

test.serial('send --mic --processing: a steady hum is suppressed as noise (and arrives whole without it)', async (t) => {
  const plain = await sendHum(t, false);
  t.true(Math.abs(plain.end - plain.start) <= 3, `without processing the hum stays (${plain.start.toFixed(1)} -> ${plain.end.toFixed(1)} dBFS)`);
  const processed = await sendHum(t, true);
  t.true(processed.start > -40, `the hum's onset passes (${processed.start.toFixed(1)} dBFS)`);
  t.true(processed.end <= processed.start - 15, `then it is suppressed (${processed.start.toFixed(1)} -> ${processed.end.toFixed(1)} dBFS)`);
});

test('--processing without --mic is refused, naming what is missing', async (t) => {
  const run = runCli(['send', '127.0.0.1', '40000', '--processing']);
  const { code, stderr } = await run.exited;
  t.is(code, 1);
  t.regex(stderr, /--processing works on the microphone: give --mic too/);
});
