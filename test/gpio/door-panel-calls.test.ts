import test from 'ava';
import type { Level } from '../../src/gpio/ports.js';
import type { KeypadKey } from '../../src/gpio/matrix-keypad.js';
import { api, connectUnits, startUnit, waitForCall, type TestUnit } from '../support/unit-harness.js';
import { startUnitWithGpio, tapButton, type GpioUnit, PI4_PINS } from '../support/gpio-unit.js';
import { KeypadGpioPorts } from '../support/fake-keypad.js';

// A building's door panel end to end: the door unit's GPIO (a GpioService on fake pins of a Pi 4,
// with a simulated 3x4 keypad wired to seven of them) and two flats' units, all three whole units
// talking real HTTP on loopback. Pressing a flat's button, or typing its number and #, rings that
// flat's unit; a number nobody has rings nothing and flashes the LED three times; CALL still works.

const BASE = 512;
const BUTTONS = [
  { pin: 17, target: 'Flat 1' },
  { pin: 27, target: 'Flat 2' },
];
const KEYPAD = { rows: [22, 23, 24, 25], columns: [16, 20, 21], directory: { '101': 'Flat 1', '102': 'Flat 2', '103': 'Flat 3' } };

interface Building {
  door: GpioUnit & { ports: KeypadGpioPorts };
  flat1: TestUnit;
  flat2: TestUnit;
}

async function building(t: { teardown(fn: () => Promise<void>): void }): Promise<Building> {
  const discovery = { pollIntervalMs: 1000, offlineAfterMs: 15_000, requestTimeoutMs: 10_000 };
  const door = (await startUnitWithGpio('Door', {
    gpio: { callTarget: 'Flat 1', buttons: BUTTONS, keypad: KEYPAD },
    ports: (clock) => new KeypadGpioPorts(clock, { rows: KEYPAD.rows.map((pin) => BASE + pin), columns: KEYPAD.columns.map((pin) => BASE + pin) }),
    discovery,
  })) as Building['door'];
  const flat1 = await startUnit('F1', { discovery });
  const flat2 = await startUnit('F2', { discovery });
  t.teardown(async () => {
    await door.close();
    await flat1.close();
    await flat2.close();
  });
  for (const [unit, name] of [
    [door, 'Front door'],
    [flat1, 'Flat 1'],
    [flat2, 'Flat 2'],
  ] as const) {
    const registered = await api(unit, 'POST', '/api/users/register', { name });
    if (registered.status !== 201) throw new Error(`register ${name}: ${JSON.stringify(registered)}`);
  }
  await connectUnits(door, flat1, flat2);
  return { door, flat1, flat2 };
}

/** Types `keys` on the door's keypad as a visitor does: each key down for 80 ms, 120 ms between keys. */
async function typeOnKeypad(door: Building['door'], keys: string): Promise<void> {
  for (const key of keys) {
    door.ports.keypad.press(key as KeypadKey);
    await door.clock.advance(80);
    door.ports.keypad.release(key as KeypadKey);
    await door.clock.advance(120);
  }
}

/** Rejects the call ringing on `flat` and waits until the door is idle again. */
async function refuse(door: GpioUnit, flat: TestUnit, callId: string): Promise<void> {
  await api(flat, 'POST', '/api/signal/end', { callId });
  await waitForCall(door, (call) => call.id === callId && call.phase === 'ended');
}

function ledLevelsSince(door: GpioUnit, mark: number): Level[] {
  return door.ringLed.writes.slice(mark).map((write) => write.level);
}

test("a flat's button rings that flat's unit, from the door's user; the LED blinks while it rings", async (t) => {
  const { door, flat1, flat2 } = await building(t);
  t.like(door.gpio.status(), {
    available: true,
    targetButtons: [
      { bcm: 17, target: 'Flat 1', pressed: false },
      { bcm: 27, target: 'Flat 2', pressed: false },
    ],
    keypad: { keysDown: [], typedDigits: 0, numbers: 3 },
  });

  await tapButton(door, door.ports.input(BASE + 27));
  const ringing = await waitForCall(flat2, (call) => call.phase === 'ringing');
  t.like(ringing, { direction: 'incoming', caller: { user: 'Front door', unitName: 'Door' }, callee: { user: 'Flat 2' } });
  await waitForCall(door, (call) => call.id === ringing.id && call.phase === 'ringing');
  t.like(door.gpio.status(), { led: 'blinking' });
  t.deepEqual(flat1.unit.calls.list(), [], 'the other flat did not ring');

  // Another flat's button while the call rings does nothing.
  await tapButton(door, door.ports.input(BASE + 17));
  t.deepEqual(flat1.unit.calls.list(), []);
  await refuse(door, flat2, ringing.id);

  await tapButton(door, door.ports.input(BASE + 17));
  const second = await waitForCall(flat1, (call) => call.phase === 'ringing');
  t.like(second, { caller: { user: 'Front door' }, callee: { user: 'Flat 1' } });
  await refuse(door, flat1, second.id);
});

test("typing a flat's number and # rings that flat's unit; * cancels the call while it rings", async (t) => {
  const { door, flat1, flat2 } = await building(t);
  const mark = door.ringLed.writes.length;
  await typeOnKeypad(door, '102');
  t.like(door.gpio.status(), { keypad: { typedDigits: 3 } });
  t.deepEqual(ledLevelsSince(door, mark), [1, 0, 1, 0, 1, 0], 'one blink per key');
  await typeOnKeypad(door, '#');
  const ringing = await waitForCall(flat2, (call) => call.phase === 'ringing');
  t.like(ringing, { caller: { user: 'Front door', unitName: 'Door' }, callee: { user: 'Flat 2' } });
  t.deepEqual(flat1.unit.calls.list(), []);
  await waitForCall(door, (call) => call.id === ringing.id && call.phase === 'ringing');
  t.like(door.gpio.status(), { led: 'blinking', keypad: { typedDigits: 0 } });

  // The visitor changes their mind: * ends the call on both units.
  await typeOnKeypad(door, '*');
  const cancelled = await waitForCall(flat2, (call) => call.id === ringing.id && call.phase === 'ended');
  t.is(cancelled.endReason, 'hung-up');

  await typeOnKeypad(door, '101#');
  const second = await waitForCall(flat1, (call) => call.phase === 'ringing');
  t.like(second, { callee: { user: 'Flat 1' } });
  await refuse(door, flat1, second.id);
});

test('a number nobody has, or whose flat the site does not know, rings nothing and flashes the LED three times', async (t) => {
  const { door, flat1, flat2 } = await building(t);
  for (const number of ['999', '103']) {
    await typeOnKeypad(door, number);
    const mark = door.ringLed.writes.length;
    await typeOnKeypad(door, '#');
    await door.clock.advance(1000);
    t.deepEqual(ledLevelsSince(door, mark), [1, 0, 1, 0, 1, 0], `${number}#: three flashes`);
    t.like(door.gpio.status(), { led: 'off', keypad: { typedDigits: 0 } });
  }
  // Give a call that was wrongly placed time to arrive, then check none did.
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.deepEqual(flat1.unit.calls.list(), []);
  t.deepEqual(flat2.unit.calls.list(), []);
  t.deepEqual(door.unit.calls.list(), []);
});

test('the CALL/ANSWER pair keeps working beside the flats\' buttons and the keypad', async (t) => {
  const { door, flat1 } = await building(t);
  await tapButton(door, door.callButton);
  const ringing = await waitForCall(flat1, (call) => call.phase === 'ringing');
  t.like(ringing, { callee: { user: 'Flat 1' } });
  await waitForCall(door, (call) => call.id === ringing.id && call.phase === 'ringing');
  // ANSWER on the door cancels its own ringing call.
  await tapButton(door, door.answerButton);
  const ended = await waitForCall(flat1, (call) => call.id === ringing.id && call.phase === 'ended');
  t.is(ended.endReason, 'hung-up');
  t.deepEqual(Object.keys(door.gpio.status().available ? (door.gpio.status() as { pins: object }).pins : {}), [
    'callButton',
    'answerButton',
    'ringLed',
    'buttons.0.pin',
    'buttons.1.pin',
    'keypad.rows.0',
    'keypad.rows.1',
    'keypad.rows.2',
    'keypad.rows.3',
    'keypad.columns.0',
    'keypad.columns.1',
    'keypad.columns.2',
  ]);
  t.is(PI4_PINS.call, BASE + 5);
  // The status carries it all over HTTP too.
  const status = await api(door, 'GET', '/api/status');
  t.like(status.body.gpio, { available: true, targetButtons: [{ target: 'Flat 1' }, { target: 'Flat 2' }], keypad: { numbers: 3 } });
});
