import test from 'ava';
import { renameSync } from 'node:fs';
import { createVirtualAlsa, speakBothWays } from '../support/virtual-alsa.js';
import { bestAlignment, rms, speechLikeSignal, toneShare, windowedCorrelation } from '../support/audio-analysis.js';
import { volumeFactor } from '../../src/audio/level-gain.js';
import { childPids, commandLine, currentPhase, establishCall, eventually, twoUnits } from './fault-helpers.js';

// A's sound device goes away mid-call and comes back. The virtual devices stop (stalled FIFOs) and
// the audio host processes that hold them die, as when a USB sound card is pulled; the service
// must keep the call up, carry silence meanwhile, reopen the devices and play speech again. This is
// the naudiodon backend (the portable one, with its audio host processes); the ALSA engine's
// unplug and replug is tested in test/audio/.

const SPEECH_SECONDS = 3;
const OUTAGE_MS = 3_000;

test.serial('the sound device disappears mid-call and comes back: call stays up, silence meanwhile, audio resumes', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  // The capture processing (on by default) is tested on its own (test/audio-processing/): here it
  // would only blur the levels this test judges the recovery by.
  const { a, b } = await twoUnits(t, alsa, { audio: { backend: 'naudiodon', processing: { enabled: false } } });
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

  // Audio flows both ways again: speech spoken into each microphone comes out of the other unit's
  // speaker (its energy; the waveform match is load-sensitive after an outage, see the report).
  const speakerA = alsa.speaker('spk_a');
  const speakerB = alsa.speaker('spk_b');
  const speechA = speechLikeSignal(SPEECH_SECONDS, 48_000, 2);
  const speechB = speechLikeSignal(SPEECH_SECONDS, 48_000, 5);
  // Half a second each speaker plays after the recovery, before anyone speaks. (Not the last half
  // second before now: A's speaker may have read little since it came back, and that window then
  // reached back to the ringback A played just before the outage, rms 1025.)
  const quietWindow = async (speaker: typeof speakerA) => {
    const from = speaker.sampleCount;
    await speaker.waitForSamples(from + 24_000);
    return speaker.samples().subarray(from, from + 24_000);
  };
  const [afterRecoveryOnA, afterRecoveryOnB] = await Promise.all([quietWindow(speakerA), quietWindow(speakerB)]);
  const quietOnA = rms(afterRecoveryOnA);
  const quietOnB = rms(afterRecoveryOnB);
  // What A played, if anything, is named by the unit sounds' frequencies (ringback 440 + 480, ring
  // 659 / 523, ended 880 / 587).
  const soundsOnA = [440, 480, 523, 587, 659, 880].map((hz) => `${hz} Hz ${toneShare(afterRecoveryOnA, hz).toFixed(2)}`).join(', ');
  const { onA: playedOnA, onB: playedOnB } = await speakBothWays(alsa, { mic: 'mic_a', speaker: 'spk_a', speech: speechA }, { mic: 'mic_b', speaker: 'spk_b', speech: speechB });
  const loudOnB = rms(playedOnB.subarray(0, (SPEECH_SECONDS + 1) * 48_000));
  const loudOnA = rms(playedOnA.subarray(0, (SPEECH_SECONDS + 1) * 48_000));
  const heardOnB = bestAlignment(speechA, playedOnB, 24_000, { start: 24_000, window: 72_000 });
  const heardOnA = bestAlignment(speechB, playedOnA, 24_000, { start: 24_000, window: 72_000 });
  const onB = windowedCorrelation(speechA, playedOnB, heardOnB.lag).median;
  const onA = windowedCorrelation(speechB, playedOnA, heardOnA.lag).median;
  t.log(`after recovery: speaker B rms ${quietOnB.toFixed(0)} before, ${loudOnB.toFixed(0)} with A's speech (rms ${rms(speechA).toFixed(0)}), median correlation ${onB.toFixed(3)}`);
  t.log(`after recovery: speaker A rms ${quietOnA.toFixed(0)} before, ${loudOnA.toFixed(0)} with B's speech (rms ${rms(speechB).toFixed(0)}), median correlation ${onA.toFixed(3)}`);
  for (const unit of [a, b]) t.log(`${unit.name}: ${JSON.stringify((await unit.api('GET', '/api/calls')).body.current?.stats)}`);
  t.true(quietOnB < 50 && quietOnA < 50, `silence before the speech (speaker A rms ${quietOnA.toFixed(0)}, B ${quietOnB.toFixed(0)}; share of A's energy at ${soundsOnA})`);
  // At the default volume (80: -8 dB in software, these cards have no mixer) the speech comes out
  // at 0.4 of its level when every frame arrives; 0.3 of that is clearly the speech, not noise.
  const played = 0.3 * volumeFactor(80);
  t.true(loudOnB > played * rms(speechA), `B's speaker plays A's speech again (rms ${loudOnB})`);
  t.true(loudOnA > played * rms(speechB), `A's speaker plays B's speech again (rms ${loudOnA})`);

  t.is((await a.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both idle', async () => (await currentPhase(a)) === 'idle' && (await currentPhase(b)) === 'idle');
});
