import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { bestAlignment, samplesFromWav, speechLikeSignal, windowedCorrelation } from '../support/audio-analysis.js';
import { statusWhere, writeMonoWav } from './cli-events.js';

// `intercom send --wav IN` to `intercom recv --wav OUT` as real processes over loopback UDP: the
// audio in OUT is the audio in IN, for the default format, the seed format and 10 ms frames.

const SECONDS = 2;
const SPEECH = speechLikeSignal(SECONDS);

interface Transfer {
  format: 'rtp-opus' | 'rtp-l16' | 'seed';
  frameMs: 10 | 20;
  /**
   * Lowest acceptable median correlation of OUT with IN in 100 ms windows. Windows, because a
   * receiver on a loaded machine may time-scale a little, which shifts what follows and would
   * spoil a single whole-signal correlation; the median, because the few windows it scaled differ.
   */
  minWindowMedian: number;
}

async function transfer(t: ExecutionContext, { format, frameMs, minWindowMedian }: Transfer): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-cli-wav-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const input = path.join(dir, 'in.wav');
  const output = path.join(dir, 'out.wav');
  await writeMonoWav(input, SPEECH);
  const codecArgs = ['--format', format, '--frame-ms', String(frameMs)];

  // A playout delay well above the scheduling jitter of a loaded test machine, so the receiver
  // has no reason to time-scale: what is under test here is the transfer, not the adaptation.
  const receiver = runCli(['recv', '0', '--host', '127.0.0.1', ...codecArgs, '--min-delay', '200', '--wav', output, '--json']);
  t.teardown(() => receiver.child.kill('SIGKILL'));
  const { port } = await receiver.waitFor('listening');
  const sender = runCli(['send', '127.0.0.1', String(port), ...codecArgs, '--wav', input, '--json']);
  t.teardown(() => sender.child.kill('SIGKILL'));

  // The sender stops by itself at the end of the file.
  const sent = await sender.waitFor('summary');
  t.is((await sender.exited).code, 0);
  t.is(sent.reason, 'end of file');
  const frameSamples = 48 * frameMs;
  t.is(sent.packetsSent, Math.ceil(SPEECH.length / frameSamples), 'one packet per frame of the file');

  await statusWhere(receiver, (status) => status.packetsReceived >= (sent.packetsSent as number));
  // Everything has arrived, but the last of it is still in the jitter buffer (200 ms and more):
  // two more status lines (a second apart) and it has been played into the file.
  const statusLines = () => receiver.lines.filter((line) => line.type === 'status').length;
  const linesWhenAllIn = statusLines();
  await statusWhere(receiver, () => statusLines() >= linesWhenAllIn + 2);
  receiver.stop();
  const received = await receiver.waitFor('summary');
  t.is((await receiver.exited).code, 0);
  t.like(received, { packetsReceived: sent.packetsSent, packetsLost: 0, packetsMalformed: 0 });

  const heard = samplesFromWav(await readFile(output));
  t.true(heard.length >= SPEECH.length, `wrote ${heard.length / 48} ms`);
  const aligned = bestAlignment(SPEECH, heard, heard.length - SPEECH.length);
  const windows = windowedCorrelation(SPEECH, heard, aligned.lag);
  t.log(`${format} ${frameMs} ms: lag ${(aligned.lag / 48).toFixed(1)} ms, whole-signal correlation ${aligned.correlation.toFixed(4)}, time-scaled ${received.timeScaledMs} ms; windows: median ${windows.median.toFixed(4)}, 10th percentile ${windows.tenth.toFixed(4)}`);
  t.is(windows.windows, 13, 'every 100 ms of speech is compared');
  t.true(windows.median >= minWindowMedian, `window median ${windows.median}`);
}

test.serial('send --wav arrives in recv --wav (rtp-opus, 20 ms: the defaults)', (t) =>
  transfer(t, { format: 'rtp-opus', frameMs: 20, minWindowMedian: 0.85 }),
);

test.serial('send --wav arrives in recv --wav with --format seed, sample for sample', (t) =>
  transfer(t, { format: 'seed', frameMs: 20, minWindowMedian: 0.999 }),
);

test.serial('send --wav arrives in recv --wav with --frame-ms 10 (rtp-opus, 100 packets a second)', (t) =>
  transfer(t, { format: 'rtp-opus', frameMs: 10, minWindowMedian: 0.85 }),
);

for (const command of [['send', '127.0.0.1', '9'], ['recv', '0', '--host', '127.0.0.1']]) {
  test(`intercom ${command[0]} refuses --format seed with --frame-ms 10, naming both options`, async (t) => {
    const run = runCli([...command, '--format', 'seed', '--frame-ms', '10', '--json']);
    t.teardown(() => run.child.kill('SIGKILL'));
    const { code, stderr } = await run.exited;
    t.is(code, 1);
    t.regex(stderr, /^intercom: --format seed cannot be used with --frame-ms 10: .*20 ms/m);
    t.is(run.lines.length, 0, 'nothing was started');
  });
}
