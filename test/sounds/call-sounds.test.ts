import test from 'ava';
import { EventEmitter } from 'node:events';
import { startUnit, connectUnits, api, waitForCall, type TestUnit } from '../support/unit-harness.js';
import { RecordingSpeaker } from '../support/fake-call-media.js';
import { toneShare, rms } from '../support/audio-analysis.js';
import { CallSounds } from '../../src/sounds/call-sounds.js';
import { UnitSounds } from '../../src/sounds/unit-sounds.js';
import type { GpioStatus } from '../../src/gpio/gpio-status.js';

// What a person hears from the unit itself: two complete units on real HTTP, each with a speaker
// that plays the unit's own sounds, told apart by their frequencies (src/sounds/tone-plan.ts).

const SOUNDS = {
  RING: [659.25, 523.25],
  RINGBACK: [440, 480],
  BUSY: [480, 620],
  UNREACHABLE: [950, 1400, 1800],
  ENDED: [880, 587.33],
  DOOR: [1046.5, 1318.5, 1568],
};
const { RING, RINGBACK, BUSY, UNREACHABLE, ENDED, DOOR } = SOUNDS;
const WINDOW = 1920; // 40 ms

/**
 * Of the 40 ms windows in which the speaker was audible, the share whose power lies mostly at
 * `frequencies` (and more there than at any other sound's frequencies): 1 when all of what played
 * was that sound, 0 when none of it was, or nothing played at all.
 */
function shareOf(samples: Int16Array, frequencies: number[]): number {
  let audible = 0;
  let matching = 0;
  for (let at = 0; at + WINDOW <= samples.length; at += WINDOW) {
    const window = samples.subarray(at, at + WINDOW);
    if (rms(window) < 300) continue;
    audible += 1;
    const shares = Object.values(SOUNDS).map((set) => set.reduce((sum, frequency) => sum + toneShare(window, frequency), 0));
    const own = frequencies.reduce((sum, frequency) => sum + toneShare(window, frequency), 0);
    if (own > 0.6 && own >= Math.max(...shares)) matching += 1;
  }
  return audible < 3 ? 0 : matching / audible;
}

/** The next two seconds the speaker plays. */
const listen = (unit: TestUnit) => unit.speaker.pull(100);

async function site(t: { teardown(fn: () => Promise<void>): void }, names: string[]) {
  const units = await Promise.all(names.map((name) => startUnit(name)));
  t.teardown(async () => {
    await Promise.all(units.map((unit) => unit.close()));
  });
  for (const unit of units) await api(unit, 'POST', '/api/users/register', { name: `User${unit.name}` });
  await connectUnits(...units);
  return units as [TestUnit, TestUnit];
}

test('a called unit rings, the caller hears ringback; answered, both go quiet; hung up, both chime once', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  t.false(a.speaker.playing, 'an idle unit makes no sound');
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  const callId = initiated.body.call.id as string;
  await waitForCall(b, (call) => call.id === callId && call.phase === 'ringing');

  const ring = listen(b);
  t.true(rms(ring) > 1000, 'the called unit is loud');
  t.true(shareOf(ring, RING) > 0.8, `the called unit rings (${shareOf(ring, RING).toFixed(2)} of its sound is the ring)`);
  const ringback = listen(a);
  t.true(shareOf(ringback, RINGBACK) > 0.8, `the caller hears ringback (${shareOf(ringback, RINGBACK).toFixed(2)})`);

  t.is((await api(b, 'POST', '/api/signal/accept', { callId })).status, 200);
  await waitForCall(a, (call) => call.id === callId && call.phase === 'active');
  for (const unit of [a, b]) {
    unit.speaker.pull(1); // the fade-out frame
    t.is(rms(listen(unit)), 0, `${unit.name}: silent while talking`);
  }

  t.is((await api(b, 'POST', '/api/signal/end', { callId })).status, 200);
  await waitForCall(a, (call) => call.id === callId && call.phase === 'ended');
  for (const unit of [a, b]) {
    const chime = listen(unit);
    t.true(shareOf(chime, ENDED) > 0.8, `${unit.name}: the "ended" chime (${shareOf(chime, ENDED).toFixed(2)})`);
    t.false(unit.speaker.playing, `${unit.name}: the chime ends by itself`);
  }
});

test('calling a unit in do-not-disturb: the caller hears busy, the called unit stays silent', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  t.is((await api(b, 'PUT', '/api/do-not-disturb', { enabled: true })).status, 200);
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  await waitForCall(a, (call) => call.phase === 'ended' && call.endReason === 'busy');
  const busy = listen(a);
  t.true(shareOf(busy, BUSY) > 0.8, `busy (${shareOf(busy, BUSY).toFixed(2)})`);
  t.false(b.speaker.playing, 'the unit in do-not-disturb never rang');
  t.is(rms(listen(b)), 0);
});

test('a caller whose callee is gone hears the unreachable tone; the caller cancelling silences the ring', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  // Cancelled while ringing: the called unit goes quiet, no chime (nobody talked).
  const first = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await waitForCall(b, (call) => call.id === first.body.call.id && call.phase === 'ringing');
  t.true(shareOf(listen(b), RING) > 0.8);
  await api(a, 'POST', '/api/signal/end', { callId: first.body.call.id });
  await waitForCall(b, (call) => call.id === first.body.call.id && call.phase === 'ended');
  b.speaker.pull(1); // the fade-out frames
  a.speaker.pull(1);
  t.is(rms(listen(b)), 0, 'the ring stops when the caller gives up');
  t.is(rms(listen(a)), 0, 'the caller that hung up hears nothing more');

  await b.close();
  await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await waitForCall(a, (call) => call.id !== first.body.call.id && call.phase === 'ended', 10_000);
  const tone = listen(a);
  t.true(shareOf(tone, UNREACHABLE) > 0.8, `unreachable (${shareOf(tone, UNREACHABLE).toFixed(2)})`);
});

test('the door relay opening chimes, however it was opened; repeated status events do not restart a sound', (t) => {
  const speaker = new RecordingSpeaker();
  const sounds = new CallSounds(new UnitSounds({ frameSamples: 960, ringVolume: 80 }), speaker);
  const calls = new EventEmitter();
  const door = new EventEmitter();
  sounds.attach(calls as never, door as never);
  const status = (energised: boolean) => ({ available: true, doorRelay: { energised, pulseMs: 1000 } }) as unknown as GpioStatus;
  door.emit('status', status(false));
  t.false(speaker.playing);
  door.emit('status', status(true));
  door.emit('status', status(true));
  t.is(speaker.changes.length, 1, 'one chime for one opening');
  const chime = speaker.pull(100);
  t.true(shareOf(chime, DOOR) > 0.8, `door opened (${shareOf(chime, DOOR).toFixed(2)})`);
  door.emit('status', status(false));
  door.emit('status', status(true));
  t.is(speaker.changes.length, 2, 'the next opening chimes again');
  sounds.stop();
  door.emit('status', status(false));
  door.emit('status', status(true));
  t.is(speaker.changes.length, 2, 'nothing after stop()');
});
