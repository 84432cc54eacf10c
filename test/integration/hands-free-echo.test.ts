import test, { type ExecutionContext } from 'ava';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { joinRoom } from '../support/room-simulator/alsa-room.js';
import { launchSite } from '../support/unit-process.js';
import { rms } from '../support/audio-analysis.js';
import { farEndSpeech } from '../support/room-simulator/hands-free-scenarios.js';
import { eventually } from '../support/eventually.js';

// Two real unit processes on their ALSA engines: a flat (A) calls a hands-free door station (B)
// whose speaker reaches its own microphone through the room simulator (10 ms of air, RT60 250 ms,
// -6 dB of coupling, a fan at -60 dBFS). A talks, B says nothing: whatever of A's speech comes
// back out of A's speaker is B's echo. Measured with B's capture processing on (shipped) and off
// (the baseline), one run after the other.

const SPEECH_SECONDS = 6;
/** The echo canceller's time to converge on the path before the echo is measured. */
const CONVERGE_SECONDS = 2;

async function echoAtTheFlat(t: ExecutionContext, processing: boolean): Promise<{ echoDbfs: number; speechDbfs: number; processing: { converged: boolean; erleDb: number | null } | null }> {
  // Made before the devices run: the test process feeds the virtual cards, so nothing heavy runs in it once they do.
  const speech = (await farEndSpeech()).subarray(0, SPEECH_SECONDS * 48_000);
  const alsa = await createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  const room = joinRoom(alsa, { speaker: 'spk_b', mic: 'mic_b', path: { delayMs: 10, rt60Ms: 250, couplingDb: -6, seed: 80 }, noiseDbfs: -60 });
  t.teardown(() => room.dispose());
  // Full volume on both: the echo is judged by level, which the default volume's -8 dB would only lower.
  const audio = (mic: string, speaker: string) => ({ captureDevice: mic, playbackDevice: speaker, volume: 100 });
  const [a, b] = await launchSite(t, [
    { name: 'A', env: alsa.env, config: { audio: audio('mic_a', 'spk_a') } },
    { name: 'B', env: alsa.env, config: { audio: { ...audio('mic_b', 'spk_b'), processing: { enabled: processing } } } },
  ]);
  t.is((await a.api('POST', '/api/users/register', { name: 'Flat' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Door' })).status, 201);
  await eventually('A sees the door', async () => (await a.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'Door' && user.online));
  const callId: string = (await a.api('POST', '/api/signal/initiate', { from: 'Flat', to: 'Door' })).body.call.id;
  await eventually('B rings', async () => (await b.api('GET', '/api/calls')).body.current?.phase === 'ringing');
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('both active', async () => (await a.api('GET', '/api/calls')).body.current?.phase === 'active' && (await b.api('GET', '/api/calls')).body.current?.phase === 'active');

  // A's speech reaches B's speaker (checked), then comes back through B's room and microphone.
  // Real speech (espeak-ng, as the simulator's targets use), at -20 dBFS active level.
  const speakerA = alsa.speaker('spk_a');
  const speakerB = alsa.speaker('spk_b');
  const playedAt = await alsa.mic('mic_a').play(speech);
  const startA = speakerA.reads.find((read) => read.at >= playedAt)?.firstSample ?? speakerA.sampleCount;
  const startB = speakerB.reads.find((read) => read.at >= playedAt)?.firstSample ?? speakerB.sampleCount;
  await Promise.all([speakerA.waitForSamples(startA + speech.length + 48_000, 30_000), speakerB.waitForSamples(startB + speech.length + 48_000, 30_000)]);
  const onB = speakerB.samples().subarray(startB, startB + speech.length + 48_000);
  // After convergence, to half a second past the speech's end (the round trip and the room's tail).
  const onA = speakerA.samples().subarray(startA + CONVERGE_SECONDS * 48_000, startA + speech.length + 24_000);
  const dbfs = (samples: Int16Array) => 20 * Math.log10(Math.max(rms(samples), 0.5) / 32768);
  const statusB = (await b.api('GET', '/api/status')).body;
  const stats = statusB.call?.stats;
  t.log(`B's capture processing: ${JSON.stringify(statusB.audio.processing)}`);
  const all = speakerA.samples().subarray(startA);
  const halves = Array.from({ length: Math.floor(all.length / 24_000) }, (_, index) => dbfs(all.subarray(index * 24_000, (index + 1) * 24_000)).toFixed(0));
  t.log(`room: harness delay ${room.harnessDelayMs?.toFixed(1)} ms, ${room.underruns} underruns; A's speaker, dBFS per half second from A's speech on: ${halves.join(' ')}`);
  t.log(`B's processing ${processing ? 'on' : 'off'}: A's speech at B's speaker ${dbfs(onB).toFixed(1)} dBFS; at A's own speaker after ${CONVERGE_SECONDS} s ${dbfs(onA).toFixed(1)} dBFS (speech ${dbfs(speech).toFixed(1)} dBFS); B ${JSON.stringify(stats)}`);
  t.true(dbfs(onB) > dbfs(speech) - 6, "B's speaker played A's speech");
  // Stopped now (the teardowns are idempotent): the next run has the machine to itself.
  await Promise.all([a.stop(), b.stop()]);
  room.dispose();
  await alsa.dispose();
  return { echoDbfs: dbfs(onA), speechDbfs: dbfs(speech), processing: statusB.audio.processing };
}

/**
 * What the shipped processing takes off the echo at the flat's speaker, at least, over the whole
 * measured stretch (RMS, so the few half seconds where residual echo or the gain control's noise
 * come through weigh most): 14.8 dB measured (2026-12-06), most half seconds 30-40 dB below the
 * baseline. B's canceller's own figure (ERLE, on its own mic and output) must show it converged.
 */
const MIN_ECHO_REDUCTION_DB = 10;
const MIN_ERLE_DB = 25;

test.serial("a hands-free door station's echo does not come back to the flat: B's canceller converges in the call and the flat hears its own voice 10 dB and more weaker", async (t) => {
  t.timeout(4 * 60_000);
  const baseline = await echoAtTheFlat(t, false);
  // Without processing the flat hears itself: the room's -6 dB, Opus and the jitter buffer.
  t.true(baseline.echoDbfs > baseline.speechDbfs - 15, `the baseline carries the echo (${baseline.echoDbfs.toFixed(1)} dBFS)`);
  const shipped = await echoAtTheFlat(t, true);
  const reduction = baseline.echoDbfs - shipped.echoDbfs;
  t.log(`echo at the flat's speaker: ${baseline.echoDbfs.toFixed(1)} dBFS without processing, ${shipped.echoDbfs.toFixed(1)} dBFS with: ${reduction.toFixed(1)} dB less`);
  t.true(reduction >= MIN_ECHO_REDUCTION_DB, `B's processing took ${reduction.toFixed(1)} dB off the echo`);
  t.is(baseline.processing, null);
  t.true(shipped.processing?.converged, `B's canceller converged (ERLE ${shipped.processing?.erleDb} dB)`);
  t.true((shipped.processing?.erleDb ?? 0) >= MIN_ERLE_DB, `B's canceller's ERLE ${shipped.processing?.erleDb} dB`);
});
