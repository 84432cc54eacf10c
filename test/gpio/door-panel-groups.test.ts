import test from 'ava';
import type { KeypadKey } from '../../src/gpio/matrix-keypad.js';
import { api, connectUnits, startUnit, waitForCall, type TestUnit } from '../support/unit-harness.js';
import { startUnitWithGpio, tapButton, type GpioUnit } from '../support/gpio-unit.js';
import { KeypadGpioPorts } from '../support/fake-keypad.js';

// A door panel whose button and keypad number name a call group: the door unit's GPIO on fake pins
// (a simulated 3x4 keypad on seven of them) and three more whole units on real HTTP. The group is
// defined on a flat's unit, spreads to the door, and ringing it rings every member's unit.

const BASE = 512;
const BUTTONS = [{ pin: 17, target: 'Reception' }];
const KEYPAD = { rows: [22, 23, 24, 25], columns: [16, 20, 21], directory: { '100': 'Reception', '101': 'Flat 1' } };

async function building(t: { teardown(fn: () => Promise<void>): void }) {
  const discovery = { pollIntervalMs: 1000, offlineAfterMs: 15_000, requestTimeoutMs: 10_000 };
  const door = (await startUnitWithGpio('Door', {
    gpio: { callTarget: 'Flat 1', buttons: BUTTONS, keypad: KEYPAD },
    ports: (clock) => new KeypadGpioPorts(clock, { rows: KEYPAD.rows.map((pin) => BASE + pin), columns: KEYPAD.columns.map((pin) => BASE + pin) }),
    discovery,
  })) as GpioUnit & { ports: KeypadGpioPorts };
  const flats = await Promise.all(['F1', 'F2', 'Desk'].map((name) => startUnit(name, { discovery })));
  t.teardown(async () => {
    await Promise.all([door, ...flats].map((unit) => unit.close()));
  });
  const names = ['Front door', 'Flat 1', 'Flat 2', 'Concierge'];
  for (const [index, unit] of [door, ...flats].entries()) {
    const registered = await api(unit, 'POST', '/api/users/register', { name: names[index] });
    if (registered.status !== 201) throw new Error(`register ${names[index]}: ${JSON.stringify(registered)}`);
  }
  await connectUnits(door, ...flats);
  // Defined on the concierge's unit; the door learns it over the unit-to-unit channel.
  const put = await api(flats[2]!, 'PUT', '/api/groups/Reception', { members: ['Concierge', 'Flat 2'] });
  if (put.status !== 200) throw new Error(JSON.stringify(put));
  while (!door.unit.groups.get('Reception')) await new Promise((resolve) => door.unit.groups.once('changed', resolve));
  return { door, flat1: flats[0]!, flat2: flats[1]!, desk: flats[2]! };
}

async function typeOnKeypad(door: GpioUnit & { ports: KeypadGpioPorts }, keys: string): Promise<void> {
  for (const key of keys) {
    door.ports.keypad.press(key as KeypadKey);
    await door.clock.advance(80);
    door.ports.keypad.release(key as KeypadKey);
    await door.clock.advance(120);
  }
}

async function ringsBoth(door: GpioUnit, members: TestUnit[]): Promise<string> {
  const ringing = await waitForCall(door, (call) => call.phase === 'ringing' && call.group === 'Reception');
  for (const unit of members) {
    const there = await waitForCall(unit, (call) => call.id === ringing.id && call.phase === 'ringing');
    if (there.group !== 'Reception' || there.caller.user !== 'Front door') throw new Error(JSON.stringify(there));
  }
  return ringing.id;
}

test("the keypad number of a group rings every member's unit; the first answer wins, the other stops", async (t) => {
  const { door, flat1, flat2, desk } = await building(t);
  await typeOnKeypad(door, '100#');
  const callId = await ringsBoth(door, [flat2, desk]);
  t.like(door.gpio.status(), { led: 'blinking' });
  t.deepEqual(flat1.unit.calls.list(), [], 'a flat outside the group does not ring');

  t.is((await api(desk, 'POST', '/api/signal/accept', { callId })).status, 200);
  t.like(await waitForCall(door, (call) => call.id === callId && call.phase === 'active'), { callee: { user: 'Concierge', unitName: 'Desk' } });
  t.is((await waitForCall(flat2, (call) => call.id === callId && call.phase === 'ended')).endReason, 'answered-elsewhere');
  flat2.speaker.pull(1); // the fade-out frame
  t.true(flat2.speaker.pull(100).every((sample) => sample === 0), 'the flat that stopped ringing is quiet: no chime');
  t.false(flat2.speaker.playing);
  await api(desk, 'POST', '/api/signal/end', { callId });
  await waitForCall(door, (call) => call.id === callId && call.phase === 'ended');
});

test("a flat's button whose target is a group rings every member; nobody answering, the visitor cancels with *", async (t) => {
  const { door, flat2, desk } = await building(t);
  await tapButton(door, door.ports.input(BASE + 17));
  const callId = await ringsBoth(door, [flat2, desk]);
  await typeOnKeypad(door, '*');
  for (const unit of [flat2, desk]) t.is((await waitForCall(unit, (call) => call.id === callId && call.phase === 'ended')).endReason, 'hung-up');
});
