import test, { type ExecutionContext } from 'ava';
import { createVirtualAlsa, speakBothWays, type VirtualAlsa } from '../support/virtual-alsa.js';
import { launchSite, type UnitProcess } from '../support/unit-process.js';
import { speechLikeSignal, bestAlignment, rms, windowedCorrelation } from '../support/audio-analysis.js';
import { eventually } from '../support/eventually.js';

// Two real unit processes on one machine, each with its own virtual microphone and speaker,
// finding each other through their static peer lists, calling, talking both ways, hanging up.

const SPEECH_SECONDS = 4;


const currentPhase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';
const lastCall = async (unit: UnitProcess, callId: string) => (await unit.api('GET', `/api/calls/${callId}`)).body.call;

async function site(t: ExecutionContext, alsa: VirtualAlsa | null, config: Record<string, unknown> = {}) {
  const units = await launchSite(t, [
    { name: 'A', env: alsa?.env, config: { ...config, audio: { captureDevice: 'mic_a', playbackDevice: 'spk_a' } } },
    { name: 'B', env: alsa?.env, config: { ...config, audio: { captureDevice: 'mic_b', playbackDevice: 'spk_b' } } },
  ]);
  const [a, b] = units;
  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  await eventually('each unit to see the other unit\'s user', async () => {
    const [onA, onB] = await Promise.all([a.api('GET', '/api/users'), b.api('GET', '/api/users')]);
    const sees = (list: { name: string; online: boolean }[], name: string) => list.some((user) => user.name === name && user.online);
    return sees(onA.body.users, 'Front door') && sees(onB.body.users, 'Kitchen');
  });
  return { a, b };
}

async function ringAndAnswer(a: UnitProcess, b: UnitProcess) {
  const initiated = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  const callId: string = initiated.body.call.id;
  const incoming = await eventually('B to ring', async () => {
    const ringing = await b.api('GET', `/api/signal/incoming?user=${encodeURIComponent('Front door')}`);
    return ringing.body.calls.length > 0 && ringing.body.calls;
  });
  return { callId, initiated, incoming };
}

test.serial('a call between two units: ring, answer, speech both ways, hang up, both idle', async (t) => {
  const speechA = speechLikeSignal(SPEECH_SECONDS, 48_000, 1);
  const speechB = speechLikeSignal(SPEECH_SECONDS, 48_000, 4);
  const alsa = await createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  const { a, b } = await site(t, alsa);
  const audioState = (await a.api('GET', '/api/status')).body.audio;
  t.like(audioState, { available: true, captureDevice: 'mic_a', playbackDevice: 'spk_a', error: null });

  const { callId, initiated, incoming } = await ringAndAnswer(a, b);
  t.is(initiated.status, 200);
  t.is(initiated.body.call.phase, 'ringing');
  t.is(incoming[0].id, callId);
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('both units active', async () => (await currentPhase(a)) === 'active' && (await currentPhase(b)) === 'active');

  // Speak into both microphones at once; each speaker must play the other side.
  const speakerA = alsa.speaker('spk_a');
  const { onA: playedOnA, onB: playedOnB } = await speakBothWays(alsa, { mic: 'mic_a', speaker: 'spk_a', speech: speechA }, { mic: 'mic_b', speaker: 'spk_b', speech: speechB });
  const heardOnB = bestAlignment(speechA, playedOnB, 24_000, { start: 24_000, window: 96_000 });
  const heardOnA = bestAlignment(speechB, playedOnA, 24_000, { start: 24_000, window: 96_000 });
  t.log(`A -> B: ${(heardOnB.lag / 48).toFixed(0)} ms, correlation ${heardOnB.correlation.toFixed(3)}; B -> A: ${(heardOnA.lag / 48).toFixed(0)} ms, correlation ${heardOnA.correlation.toFixed(3)}`);
  const onB = windowedCorrelation(speechA, playedOnB, heardOnB.lag);
  const onA = windowedCorrelation(speechB, playedOnA, heardOnA.lag);
  t.log(`windowed: A -> B median ${onB.median.toFixed(3)} (10th percentile ${onB.tenth.toFixed(3)}), B -> A median ${onA.median.toFixed(3)} (${onA.tenth.toFixed(3)})`);
  for (const unit of [a, b]) {
    const { body } = await unit.api('GET', '/api/status');
    t.log(`${unit.name}: event loop delay ${JSON.stringify(body.system.eventLoopDelayMs)}, call ${JSON.stringify(body.call?.stats)}`);
  }
  // This test proves whose speech each speaker plays: the other side's, clearly more than its own.
  // Audio quality itself is measured in send-recv.test.ts and the benchmarks; seven processes on
  // two cores here (two units, four audio hosts, the virtual sound card) can stall a device for a
  // moment, so the bar is set for identity, not fidelity.
  const ownOnB = windowedCorrelation(speechB, playedOnB, heardOnB.lag);
  const ownOnA = windowedCorrelation(speechA, playedOnA, heardOnA.lag);
  t.true(onB.median > 0.5 && onB.median - ownOnB.median > 0.3, `B's speaker plays A's speech (median ${onB.median}, own side ${ownOnB.median})`);
  t.true(onA.median > 0.5 && onA.median - ownOnA.median > 0.3, `A's speaker plays B's speech (median ${onA.median}, own side ${ownOnA.median})`);
  t.true(heardOnB.lag / 48 < 400 && heardOnA.lag / 48 < 400, 'mouth-to-ear delay under 400 ms');
  // ... and not its own side's speech.
  t.true(ownOnA.median < 0.5, `A's speaker does not play A's own speech (${ownOnA.median})`);

  const stats = (await a.api('GET', '/api/calls')).body.current.stats;
  t.true(stats.packetsReceived > 200 && stats.packetsSent > 200, JSON.stringify(stats));
  t.is(stats.packetsMalformed, 0);

  t.is((await b.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both idle', async () => (await currentPhase(a)) === 'idle' && (await currentPhase(b)) === 'idle');
  t.like(await lastCall(a, callId), { phase: 'ended', endReason: 'hung-up' });
  t.like(await lastCall(b, callId), { phase: 'ended', endReason: 'hung-up' });
  // Once the call has ended the speaker plays the short "ended" chime and then nothing: the engine
  // stops the device between calls (an idle unit costs nothing), and the device stays usable.
  const endedAt = speakerA.sampleCount;
  await eventually('A\'s speaker to go quiet', async () => {
    const before = speakerA.sampleCount;
    await new Promise((resolve) => setTimeout(resolve, 500));
    return speakerA.sampleCount === before || rms(speakerA.samples().subarray(-12_000)) < 50;
  });
  const afterEnd = speakerA.samples().subarray(endedAt);
  t.true(afterEnd.length < 3 * 48_000 || rms(afterEnd.subarray(2 * 48_000)) < 50, `the speaker is quiet within 2 s of the end (${afterEnd.length} samples played since)`);
  t.like((await a.api('GET', '/api/status')).body.audio, { available: true });
});

test.serial('the callee rejects; an unknown user and malformed JSON get 4xx with a reason', async (t) => {
  const { a, b } = await site(t, null);
  const { callId } = await ringAndAnswer(a, b);
  t.is((await b.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both ended', async () => (await lastCall(a, callId)).phase === 'ended');
  t.like(await lastCall(a, callId), { endReason: 'rejected' });
  t.like(await lastCall(b, callId), { endReason: 'rejected' });

  const unknown = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Nobody' });
  t.is(unknown.status, 404);
  t.is(unknown.body.error, 'unknown-user');
  const malformed = await a.api('/api/signal/initiate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"from": "Kitchen",' });
  t.is(malformed.status, 400);
  t.is(((await malformed.json()) as { error: string }).error, 'bad-json');
});

test.serial('nobody answers: ring-timeout on both', async (t) => {
  const { a, b } = await site(t, null, { calls: { ringTimeoutMs: 2000 } });
  const { callId } = await ringAndAnswer(a, b);
  await eventually('ring timeout', async () => (await lastCall(a, callId)).phase === 'ended' && (await lastCall(b, callId)).phase === 'ended');
  t.like(await lastCall(a, callId), { endReason: 'ring-timeout' });
  t.like(await lastCall(b, callId), { endReason: 'ring-timeout' });
});

test.serial('a unit already in a call answers busy', async (t) => {
  const [a, b, c] = await launchSite(t, [{ name: 'A' }, { name: 'B' }, { name: 'C' }]);
  await a.api('POST', '/api/users/register', { name: 'Kitchen' });
  await b.api('POST', '/api/users/register', { name: 'Front door' });
  await c.api('POST', '/api/users/register', { name: 'Garage' });
  await eventually('C to see Front door', async () => (await c.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'Front door' && user.online));
  await eventually('A to see Front door', async () => (await a.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'Front door' && user.online));
  const { callId } = await ringAndAnswer(a, b);
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('active', async () => (await currentPhase(a)) === 'active' && (await currentPhase(b)) === 'active');
  const second = await c.api('POST', '/api/signal/initiate', { from: 'Garage', to: 'Front door' });
  // C itself is free, so its initiate succeeds (200) with the call already ended: B said busy.
  t.is(second.status, 200);
  t.like(second.body.call, { phase: 'ended', endReason: 'busy' });
  t.like((await c.api('GET', `/api/calls/${second.body.call.id}`)).body.call, { phase: 'ended', endReason: 'busy' });
  t.is(await currentPhase(b), 'active', 'the call in progress goes on');
});

test.serial('the callee\'s process is killed mid-call: the caller ends with peer-lost', async (t) => {
  const { a, b } = await site(t, null);
  const { callId } = await ringAndAnswer(a, b);
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('active on A', async () => (await currentPhase(a)) === 'active');
  b.child.kill('SIGKILL');
  const ended = await eventually('A to notice', async () => {
    const call = await lastCall(a, callId);
    return call.phase === 'ended' && call;
  });
  t.is(ended.endReason, 'peer-lost');
  t.is(await currentPhase(a), 'idle');
});
