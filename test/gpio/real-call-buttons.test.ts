import test from 'ava';
import type { Level } from '../../src/gpio/ports.js';
import { startUnit, connectUnits, api, type TestUnit } from '../support/unit-harness.js';
import { pressButton, releaseButton, startUnitWithGpio, tapButton, type GpioUnit } from '../support/gpio-unit.js';
import { waitForCall } from '../support/unit-harness.js';

// The front-panel buttons against real call services: unit A (the panel on a phone, say) and
// door unit B, whose CALL/ANSWER buttons and ring LED are a real GpioService on fake pins. The
// two units talk real HTTP on loopback; only the media engine is a recording double.

interface Site {
  a: TestUnit;
  b: GpioUnit;
}

async function site(t: { teardown(fn: () => Promise<void>): void }): Promise<Site> {
  const a = await startUnit('A');
  const b = await startUnitWithGpio('B', { gpio: { callTarget: 'Kitchen' } });
  t.teardown(async () => {
    await b.close();
    await a.close();
  });
  for (const [unit, name] of [
    [a, 'Kitchen'],
    [b, 'Front door'],
  ] as const) {
    const response = await api(unit, 'POST', '/api/users/register', { name });
    if (response.status !== 201) throw new Error(`register ${name} failed: ${JSON.stringify(response)}`);
  }
  await connectUnits(a, b);
  return { a, b };
}

/** Levels written to B's ring LED while its clock moves on by `ms`. */
async function ledLevelsOver(b: GpioUnit, ms: number): Promise<Level[]> {
  const before = b.ringLed.writes.length;
  await b.clock.advance(ms);
  return b.ringLed.writes.slice(before).map((write) => write.level);
}

/** A calls B's user; resolves once B rings. */
async function ringB({ a, b }: Site): Promise<string> {
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  if (initiated.status !== 200) throw new Error(`initiate failed: ${JSON.stringify(initiated)}`);
  const callId: string = initiated.body.call.id;
  await waitForCall(b, (call) => call.id === callId && call.phase === 'ringing');
  return callId;
}

test('ANSWER: a short press accepts the ringing call on both units, the LED goes steady; the next press hangs up', async (t) => {
  const units = await site(t);
  const { a, b } = units;
  t.is(b.gpio.status().available, true);
  t.is(b.ringLed.level, 0, 'dark while idle');

  const callId = await ringB(units);
  t.like(b.unit.calls.current(), { id: callId, phase: 'ringing', direction: 'incoming' });
  t.like(b.gpio.status(), { led: 'blinking' });
  // Blinking with the default 1000 ms period: lit at once, then a change every 500 ms.
  t.is(b.ringLed.level, 1);
  t.deepEqual(await ledLevelsOver(b, 2000), [0, 1, 0, 1]);

  await tapButton(b, b.answerButton);
  const [onA, onB] = await Promise.all([
    waitForCall(a, (call) => call.id === callId && call.phase === 'active'),
    waitForCall(b, (call) => call.id === callId && call.phase === 'active'),
  ]);
  t.like(onA, { direction: 'outgoing', callee: { user: 'Front door', unitName: 'B' } });
  t.like(onB, { direction: 'incoming', caller: { user: 'Kitchen', unitName: 'A' } });
  t.deepEqual(b.media.log, [`prepare ${callId}`, `start ${callId}`], "B's media runs");
  t.like(b.gpio.status(), { led: 'steady' });
  t.is(b.ringLed.level, 1);
  t.deepEqual(await ledLevelsOver(b, 2000), [], 'steady: no blinking');

  // During the call a short press of ANSWER hangs up when it is let go (holding it would mute).
  await pressButton(b, b.answerButton);
  t.like(b.unit.calls.current(), { id: callId, phase: 'active' }, 'still talking while ANSWER is down');
  await releaseButton(b, b.answerButton);
  const [endedOnA, endedOnB] = await Promise.all([
    waitForCall(a, (call) => call.id === callId && call.phase === 'ended'),
    waitForCall(b, (call) => call.id === callId && call.phase === 'ended'),
  ]);
  t.is(endedOnA.endReason, 'hung-up');
  t.is(endedOnB.endReason, 'hung-up');
  t.is(a.unit.calls.current(), null);
  t.is(b.unit.calls.current(), null);
  t.like(b.gpio.status(), { led: 'off', buttons: { call: false, answer: false } });
  t.is(b.ringLed.level, 0);
});

test('ANSWER held in a call mutes the microphone (the LED blinks dark once a second, the API and panel say so), held again unmutes; the mute ends with the call', async (t) => {
  const units = await site(t);
  const { a, b } = units;
  const callId = await ringB(units);
  await tapButton(b, b.answerButton);
  await waitForCall(b, (call) => call.id === callId && call.phase === 'active');

  await pressButton(b, b.answerButton);
  await b.clock.advance(b.config.longPressMs);
  t.true(b.media.micMuted, "B's media sends silence");
  t.like((await api(b, 'GET', '/api/audio/levels')).body, { muted: true });
  t.like((await api(b, 'GET', '/api/status')).body, { levels: { muted: true } });
  t.like(b.gpio.status(), { led: 'muted' });
  await releaseButton(b, b.answerButton);
  t.like(b.unit.calls.current(), { id: callId, phase: 'active' }, 'letting go after the long press does not hang up');
  // Muted: lit, dark for 150 ms once a second (steady would write nothing, blinking is 500/500).
  const start = b.ringLed.writes.length;
  await b.clock.advance(2200);
  const writes = b.ringLed.writes.slice(start);
  t.deepEqual(writes.map((write) => write.level), [0, 1, 0, 1]);
  t.deepEqual([writes[1]!.at - writes[0]!.at, writes[2]!.at - writes[0]!.at, writes[3]!.at - writes[2]!.at], [150, 1000, 150]);

  await pressButton(b, b.answerButton);
  await b.clock.advance(b.config.longPressMs);
  await releaseButton(b, b.answerButton);
  t.false(b.media.micMuted, 'held again: unmuted');
  t.like(b.gpio.status(), { led: 'steady' });

  // Muted from the API, then the call ends: the next call starts unmuted.
  t.like((await api(b, 'PUT', '/api/audio/levels', { muted: true })).body, { muted: true });
  t.like(b.gpio.status(), { led: 'muted' }, 'a mute from the panel shows on the LED too');
  await api(a, 'POST', '/api/signal/end', { callId });
  await waitForCall(b, (call) => call.id === callId && call.phase === 'ended');
  t.false(b.unit.levels.isMuted);
  t.false(b.media.micMuted);
  t.like(b.gpio.status(), { led: 'off' });
});

test('ANSWER held past gpio.longPressMs while ringing rejects the call on both units', async (t) => {
  const units = await site(t);
  const { a, b } = units;
  const callId = await ringB(units);

  await pressButton(b, b.answerButton);
  await b.clock.advance(b.config.longPressMs - 100);
  t.like(b.unit.calls.current(), { id: callId, phase: 'ringing' }, 'still ringing short of the threshold');
  await b.clock.advance(100);
  const [onA, onB] = await Promise.all([
    waitForCall(a, (call) => call.id === callId && call.phase === 'ended'),
    waitForCall(b, (call) => call.id === callId && call.phase === 'ended'),
  ]);
  t.is(onA.endReason, 'rejected');
  t.is(onB.endReason, 'rejected');
  // Letting go afterwards does nothing more (and does not answer anything).
  await releaseButton(b, b.answerButton);
  t.is(a.unit.calls.current(), null);
  t.is(b.unit.calls.current(), null);
  t.deepEqual(a.media.log, [], 'no media was started');
  t.deepEqual(b.media.log, []);
  t.like(b.gpio.status(), { led: 'off' });
  t.is(b.ringLed.level, 0);
});

test('CALL on an idle unit rings gpio.callTarget on the other unit, from the unit\'s own user', async (t) => {
  const { a, b } = await site(t);
  await tapButton(b, b.callButton);
  const [incoming, outgoing] = await Promise.all([
    waitForCall(a, (call) => call.phase === 'ringing'),
    waitForCall(b, (call) => call.phase === 'ringing'),
  ]);
  t.is(incoming.id, outgoing.id);
  t.like(incoming, { direction: 'incoming', caller: { user: 'Front door', unitName: 'B' }, callee: { user: 'Kitchen', unitName: 'A' } });
  t.like(outgoing, { direction: 'outgoing' });
  t.deepEqual((await api(a, 'GET', '/api/signal/incoming?user=Kitchen')).body.calls.map((call: { id: string }) => call.id), [incoming.id]);
  t.like(b.gpio.status(), { led: 'blinking' }, 'the LED blinks while our call rings out too');

  // Pressing CALL again while it rings does not cancel the visitor's own call.
  await tapButton(b, b.callButton);
  t.like(b.unit.calls.current(), { id: outgoing.id, phase: 'ringing' });

  await api(a, 'POST', '/api/signal/accept', { callId: incoming.id });
  await waitForCall(b, (call) => call.id === outgoing.id && call.phase === 'active');
  t.like(b.gpio.status(), { led: 'steady' });
  // CALL during the call hangs up.
  await pressButton(b, b.callButton);
  t.is((await waitForCall(a, (call) => call.id === incoming.id && call.phase === 'ended')).endReason, 'hung-up');
  await releaseButton(b, b.callButton);
  t.like(b.gpio.status(), { led: 'off' });
});
