import test from 'ava';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { runCli, type CliRun } from '../support/cli.js';
import { speechLikeSignal, bestAlignment, windowedCorrelation } from '../support/audio-analysis.js';

// The real path end to end: speech-like audio into a virtual ALSA microphone -> `intercom send`
// (naudiodon capture, Opus, RTP) -> a lossy, jittery, reordering UDP proxy -> `intercom recv`
// (jitter buffer, FEC/PLC, naudiodon playback) -> virtual ALSA speaker.

// Long enough for ~13 losses at 3%: only some frames of the synthetic speech carry FEC (SILK LBRR),
// and with the ~8 losses of 6 s none was recovered in one CI run in about fifty.
const SPEECH_SECONDS = 10;

async function until(run: CliRun, condition: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const found = run.lines.find((line) => line.type === 'status' && condition(line));
    if (found) return found;
    await new Promise<void>((resolve, reject) => {
      run.child.stdout!.once('data', () => resolve());
      run.exited.then(({ code, stderr }) => reject(new Error(`exited (${code}): ${stderr}`)), reject);
    });
  }
}

// The unit's own ALSA engine with the shipped settings, and the portable naudiodon backend (a
// laptop's), which keeps the 60 ms floor its device's 20 ms request lead needs for FEC in time.
const BACKENDS = [
  { backend: 'alsa', receiverFlags: [] as string[] },
  { backend: 'naudiodon', receiverFlags: ['--min-delay', '60'] },
];

for (const { backend, receiverFlags } of BACKENDS) test.serial(`speech goes mic -> intercom send -> lossy network -> intercom recv -> speaker, and the stats count what the network did (--backend ${backend})`, async (t) => {
  // Made before anything runs in real time: synthesising it takes long enough to stall this
  // process, which also hosts the virtual sound card's clock and the proxy.
  const speech = speechLikeSignal(SPEECH_SECONDS);
  const alsa = await createVirtualAlsa({ mics: ['testmic'], speakers: ['testspk'] });
  t.teardown(() => alsa.dispose());

  const receiver = runCli(['recv', '0', '--host', '127.0.0.1', '--device', 'testspk', '--backend', backend, ...receiverFlags, '--json'], alsa.env);
  t.teardown(() => receiver.child.kill('SIGKILL'));
  const { port } = await receiver.waitFor('listening');

  // Clean at first, so the stream is established before anything is lost (a receiver cannot
  // know of packets dropped before the first one it sees).
  const proxy = await ImpairmentProxy.start({ target: { address: '127.0.0.1', port: port as number }, seed: 7 });
  t.teardown(() => proxy.close());

  const sender = runCli(['send', '127.0.0.1', String(proxy.port), '--mic', 'testmic', '--backend', backend, '--json'], alsa.env);
  t.teardown(() => sender.child.kill('SIGKILL'));
  await until(receiver, (line) => (line.packetsReceived as number) > 0);
  proxy.impair(process.env.IMPAIR ? JSON.parse(process.env.IMPAIR) : { lossRate: 0.03, jitterMs: 12, reorderRate: 0.01, duplicateRate: 0.01 });

  const speaker = alsa.speaker('testspk');
  const playedAt = await alsa.mic('testmic').play(speech);
  const speakerStartIndex = speaker.reads.find((read) => read.at >= playedAt)?.firstSample ?? speaker.sampleCount;
  await speaker.waitForSamples(speakerStartIndex + (SPEECH_SECONDS + 1) * 48_000, 30_000);

  // A clean tail, so that every drop is followed by packets that reveal it as a loss.
  proxy.impair({ lossRate: 0, reorderRate: 0, duplicateRate: 0, jitterMs: 0 });
  const sentBeforeTail = proxy.counts.received;
  await until(receiver, (line) => (line.packetsReceived as number) >= sentBeforeTail + 50);
  sender.stop();
  const sent = await sender.waitFor('summary');
  t.is((await sender.exited).code, 0);
  await until(receiver, (line) => line.packetsReceived === proxy.counts.forwarded);
  receiver.stop();
  const received = await receiver.waitFor('summary');
  t.is((await receiver.exited).code, 0);

  t.log(`receiver's sound device: ${JSON.stringify(received.device)}`);
  t.log(`proxy: ${JSON.stringify(proxy.counts)}; receiver: lost ${received.packetsLost}, recovered ${received.packetsRecovered}, concealed ${received.concealedMs} ms, underruns ${received.underruns}`);
  t.log('receiver: ' + receiver.lines.filter((line) => line.type === 'status').map((line) => `${Math.round(line.currentDelayMs as number)}/${line.targetDelayMs}ms u${line.underruns} ts${Math.round(line.timeScaledMs as number)}`).join(' '));
  // The statistics count exactly what the proxy did.
  t.is(proxy.counts.received, sent.packetsSent as number);
  t.is(received.packetsReceived, proxy.counts.forwarded);
  t.is(received.packetsLost, proxy.counts.dropped, JSON.stringify({ proxy: proxy.counts, received }));
  t.is(received.packetsDuplicated, proxy.counts.duplicated);
  t.true((received.packetsReordered as number) + (received.packetsLate as number) >= proxy.counts.reorderedHeld);
  t.is(received.packetsMalformed, 0);
  t.true((received.packetsRecovered as number) > 0, 'some losses were recovered from the next packet\'s FEC');
  t.true((received.concealedMs as number) > 0);
  t.true(proxy.counts.dropped > 5, `the proxy dropped ${proxy.counts.dropped}`);

  // What came out of the speaker is the speech that went into the microphone.
  const output = speaker.samples().subarray(speakerStartIndex);
  if (process.env.INTERCOM_TEST_DUMP) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${process.env.INTERCOM_TEST_DUMP}/in.raw`, Buffer.from(speech.buffer));
    writeFileSync(`${process.env.INTERCOM_TEST_DUMP}/out.raw`, Buffer.from(output.slice().buffer));
  }
  const overall = bestAlignment(speech, output, 48_000, { start: 48_000, window: 96_000 });
  t.log(`mic-to-speaker delay ${(overall.lag / 48).toFixed(1)} ms, overall correlation ${overall.correlation.toFixed(3)}`);
  t.true(overall.lag / 48 < 300, `mic-to-speaker delay ${overall.lag / 48} ms`);
  const { median, tenth, windows } = windowedCorrelation(speech, output, overall.lag);
  t.log(`windowed correlation: median ${median.toFixed(3)}, 10th percentile ${tenth.toFixed(3)}, ${windows} windows`);
  t.true(median > 0.85, `median correlation ${median}`);
  // 3% loss conceals whole frames, so a few 100 ms windows correlate less; the median carries the proof.
  t.true(tenth > 0.3, `10th percentile correlation ${tenth}`);
});
