import test from 'ava';
import { renameSync } from 'node:fs';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { bestAlignment, speechLikeSignal, windowedCorrelation } from '../support/audio-analysis.js';
import type { UnitProcess } from '../support/unit-process.js';
import { childPids, commandLine, currentPhase, establishCall, eventually, twoUnits } from './fault-helpers.js';

// A's sound device goes away mid-call and comes back. The virtual devices stop (stalled FIFOs) and
// the audio host processes that hold them die, as when a USB sound card is pulled; the service
// must keep the call up, carry silence meanwhile, reopen the devices and play speech again.

const SPEECH_SECONDS = 3;

/**
 * Waits until neither unit's playout has run dry for a second and its delay is back near normal:
 * the buffers grew during the outage, and this test's own analysis (synchronous, on the event loop
 * that also clocks the virtual devices) stalls the devices for a moment each time it runs.
 */
async function playoutSettled(a: UnitProcess, b: UnitProcess): Promise<void> {
  let previous: { at: number; underruns: number[] } | undefined;
  await eventually(
    'the playout buffers to settle',
    async () => {
      const stats = await Promise.all([a, b].map(async (unit) => (await unit.api('GET', '/api/calls')).body.current?.stats));
      const now = { at: performance.now(), underruns: stats.map((entry) => entry?.underruns ?? 0) };
      if (!previous || now.underruns.some((count, index) => count !== previous!.underruns[index])) {
        previous = now;
        return false;
      }
      return now.at - previous.at >= 1_000 && stats.every((entry) => entry.currentDelayMs < 250);
    },
    20_000,
  );
}
const OUTAGE_MS = 3_000;

test.serial('the sound device disappears mid-call and comes back: call stays up, silence meanwhile, audio resumes', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  const { a, b } = await twoUnits(t, alsa);
  t.like((await a.api('GET', '/api/status')).body.audio, { available: true, error: null });
  const callId = await establishCall(t, a, b);

  const audioHosts = () => childPids(a.child.pid!).filter((pid) => commandLine(pid).includes('naudiodon-host'));
  const hostsBefore = audioHosts();
  t.is(hostsBefore.length, 2, 'one audio host for capture, one for playback');

  // The device goes away.
  const packetsOnB = async () => (await b.api('GET', '/api/calls')).body.current?.stats?.packetsReceived ?? 0;
  const goneAt = performance.now();
  alsa.mic('mic_a').stall();
  alsa.speaker('spk_a').stall();
  // Its device node goes too: the mic's FIFO is moved away, so a reopen attempt finds no such device.
  const micPath = alsa.mic('mic_a').fifoPath;
  renameSync(micPath, `${micPath}.gone`);
  for (const pid of hostsBefore) process.kill(pid, 'SIGKILL');
  const down = await eventually('A to report its audio unavailable', async () => {
    const audio = (await a.api('GET', '/api/status')).body.audio;
    return audio.available === false && audio;
  });
  t.log(`while the device is gone: ${JSON.stringify(down)}`);
  t.truthy(down.error, 'the status says why');
  const receivedDuringOutage = await packetsOnB();
  // The scenario: the device stays away for OUTAGE_MS. Meanwhile the call stays up on both and
  // A keeps sending (silence), so B's liveness check is satisfied.
  await eventually(
    'the outage to last',
    async () => {
      t.is(await currentPhase(a), 'active');
      t.is(await currentPhase(b), 'active');
      return performance.now() - goneAt >= OUTAGE_MS;
    },
    OUTAGE_MS + 5_000,
  );
  t.true((await packetsOnB()) > receivedDuringOutage + 20, 'A sends (silence) while its device is gone');
  renameSync(`${micPath}.gone`, micPath);
  alsa.mic('mic_a').resume();
  alsa.speaker('spk_a').resume();

  // The device comes back: the service reopens it on its own.
  const up = await eventually(
    'A to report its audio available again',
    async () => {
      const audio = (await a.api('GET', '/api/status')).body.audio;
      return audio.available === true && audio;
    },
    15_000,
  );
  t.like(up, { captureDevice: 'mic_a', playbackDevice: 'spk_a', error: null });
  const hostsAfter = audioHosts();
  t.is(hostsAfter.length, 2, `exactly two audio hosts after reopening (pids ${hostsAfter.join(', ')})`);
  t.false(hostsAfter.some((pid) => hostsBefore.includes(pid)));
  t.is(await currentPhase(a), 'active');
  t.is(await currentPhase(b), 'active');

  // Speech flows both ways again. The playout buffers grew to ride out the outage and shrink back
  // over a few seconds (slower on a loaded machine), so the speech is spoken again, with fresh
  // signals, until both speakers play it (or the deadline passes).
  const speakerA = alsa.speaker('spk_a');
  const speakerB = alsa.speaker('spk_b');
  const deadline = performance.now() + 45_000;
  let attempt = 0;
  let heard: { onA: number; onB: number } = { onA: 0, onB: 0 };
  while (performance.now() < deadline && attempt < 4) {
    attempt += 1;
    await playoutSettled(a, b);
    const speechA = speechLikeSignal(SPEECH_SECONDS, 48_000, 10 + attempt);
    const speechB = speechLikeSignal(SPEECH_SECONDS, 48_000, 50 + attempt);
    const [playedA, playedB] = await Promise.all([alsa.mic('mic_a').play(speechA), alsa.mic('mic_b').play(speechB)]);
    const startA = speakerA.reads.find((read) => read.at >= playedB)?.firstSample ?? speakerA.sampleCount;
    const startB = speakerB.reads.find((read) => read.at >= playedA)?.firstSample ?? speakerB.sampleCount;
    await Promise.all([
      speakerA.waitForSamples(startA + (SPEECH_SECONDS + 1) * 48_000, 30_000),
      speakerB.waitForSamples(startB + (SPEECH_SECONDS + 1) * 48_000, 30_000),
    ]);
    const heardOnB = bestAlignment(speechA, speakerB.samples().subarray(startB), 48_000, { start: 24_000, window: 72_000 });
    const heardOnA = bestAlignment(speechB, speakerA.samples().subarray(startA), 48_000, { start: 24_000, window: 72_000 });
    heard = {
      onB: windowedCorrelation(speechA, speakerB.samples().subarray(startB), heardOnB.lag).median,
      onA: windowedCorrelation(speechB, speakerA.samples().subarray(startA), heardOnA.lag).median,
    };
    t.log(`speech ${attempt} after recovery: A -> B median correlation ${heard.onB.toFixed(3)} at ${(heardOnB.lag / 48).toFixed(0)} ms; B -> A ${heard.onA.toFixed(3)} at ${(heardOnA.lag / 48).toFixed(0)} ms`);
    if (heard.onA > 0.8 && heard.onB > 0.8) break;
    t.is(await currentPhase(a), 'active');
    t.is(await currentPhase(b), 'active');
  }
  for (const unit of [a, b]) t.log(`${unit.name}: ${JSON.stringify((await unit.api('GET', '/api/calls')).body.current?.stats)}`);
  t.true(heard.onB > 0.8, `B's speaker plays A's speech again (${heard.onB})`);
  t.true(heard.onA > 0.8, `A's speaker plays B's speech again (${heard.onA})`);

  t.is((await a.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both idle', async () => (await currentPhase(a)) === 'idle' && (await currentPhase(b)) === 'idle');
});
