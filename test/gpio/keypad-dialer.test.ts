import test from 'ava';
import { KeypadDialer } from '../../src/gpio/keypad-dialer.js';
import { TargetCaller } from '../../src/gpio/target-caller.js';
import type { FeedbackPattern } from '../../src/gpio/indicator-led.js';
import type { KeypadKey } from '../../src/gpio/matrix-keypad.js';
import { siteCallTargets } from '../../src/gpio/call-targets.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, FakeCallControl } from '../support/fake-gpio.js';

// What a visitor's keys on the door panel's keypad do, against a call control double and the real
// TargetCaller: # calls the directory's target, * clears, a timeout clears, wrong numbers are
// refused, each with its LED pattern and a log line.

const DIRECTORY = { '101': 'Flat 1', '102': 'Flat 2', '7': 'Caretaker', '200': 'Nobody here' };
const ENTRY_TIMEOUT_MS = 8000;

function rig() {
  const clock = new FakeClock();
  const calls = new FakeCallControl();
  const { logger, lines, messages } = captureLogger();
  const flashes: FeedbackPattern[] = [];
  const feedback = { flash: (pattern: FeedbackPattern) => void flashes.push(pattern) };
  const site = new Map([
    ['flat 1', { name: 'Flat 1', local: false, unitName: 'F1' }],
    ['flat 2', { name: 'Flat 2', local: false, unitName: 'F2' }],
    ['caretaker', { name: 'Caretaker', local: false, unitName: 'C' }],
  ]);
  const resolveTarget = siteCallTargets({ findUser: (name) => site.get(name.toLowerCase()) ?? null });
  const caller = new TargetCaller({ calls, resolveTarget, feedback, logger });
  const dialer = new KeypadDialer({ directory: DIRECTORY, caller, calls, feedback, clock, logger, entryTimeoutMs: ENTRY_TIMEOUT_MS });
  const type = async (keys: string) => {
    for (const key of keys) {
      dialer.press(key as KeypadKey);
      await clock.advance(300);
    }
  };
  return { clock, calls, lines, messages, flashes, dialer, type };
}

test('digits then # ring the number\'s target; each key blinks once', async (t) => {
  const { calls, messages, flashes, type } = rig();
  await type('101#');
  t.deepEqual(calls.requests, ['initiate Flat 1']);
  t.deepEqual(flashes, ['key', 'key', 'key']);
  t.true(messages().includes('keypad 101: calling user Flat 1'));
  calls.remoteHangsUp();
  await type('7#');
  t.deepEqual(calls.requests, ['initiate Flat 1', 'initiate Caretaker'], 'a one-digit number too');
});

test('a number not in the directory is refused with three flashes and a log line; nothing rings', async (t) => {
  const { calls, messages, flashes, type, dialer } = rig();
  await type('999#');
  t.deepEqual(calls.requests, []);
  t.deepEqual(flashes, ['key', 'key', 'key', 'refused']);
  t.true(messages().includes('keypad: no number 999 in gpio.keypad.directory; nothing called'));
  t.is(dialer.typedDigits, 0, 'the entry is cleared');
  // # with nothing typed.
  await type('#');
  t.is(flashes.at(-1), 'refused');
  t.true(messages().includes('keypad #: no number typed; type a number, then #'));
});

test('a number whose target the site does not know is refused, naming why', async (t) => {
  const { calls, lines, flashes, type } = rig();
  await type('200#');
  t.deepEqual(calls.requests, []);
  t.is(flashes.at(-1), 'refused');
  const line = lines.find((entry) => entry.msg.startsWith('keypad 200: cannot call Nobody here'));
  t.like(line, { level: 40, target: 'Nobody here' });
});

test('* clears a half-typed number (two flashes); the next number starts afresh', async (t) => {
  const { calls, messages, flashes, type } = rig();
  await type('10*');
  t.deepEqual(flashes, ['key', 'key', 'cleared']);
  t.true(messages().includes('keypad: 10 cleared with *'));
  await type('102#');
  t.deepEqual(calls.requests, ['initiate Flat 2']);
});

test('a half-typed number is cleared after the entry timeout without a key', async (t) => {
  const { calls, clock, messages, flashes, dialer, type } = rig();
  await type('10');
  await clock.advance(ENTRY_TIMEOUT_MS - 700);
  t.is(dialer.typedDigits, 2, 'each key restarts the timeout');
  await clock.advance(500);
  t.is(dialer.typedDigits, 0);
  t.is(flashes.at(-1), 'cleared');
  t.true(messages().includes('keypad: 10 cleared after 8 s without a key'));
  await type('1#');
  t.deepEqual(calls.requests, [], '"1" alone is no number: the old digits are gone');
});

test('more digits than the longest number are refused and clear the entry', async (t) => {
  const { calls, messages, flashes, type } = rig();
  await type('1011');
  t.deepEqual(flashes, ['key', 'key', 'key', 'refused']);
  t.true(messages().includes('keypad: 1011 is longer than any number in gpio.keypad.directory; cleared'));
  await type('#');
  t.deepEqual(calls.requests, []);
});

test('while our call rings, * cancels it; other keys do nothing while a call is live', async (t) => {
  const { calls, messages, type } = rig();
  await type('101#');
  t.is(calls.current, 'ringing-out');
  await type('5#');
  t.deepEqual(calls.requests, ['initiate Flat 1'], 'no second call');
  await type('*');
  t.deepEqual(calls.requests, ['initiate Flat 1', 'hang-up']);
  t.is(calls.current, 'idle');
  t.true(messages().includes('keypad *: cancelling the call that rings'));
  calls.remoteCalls();
  calls.remoteAnswers();
  await type('*102#');
  t.deepEqual(calls.requests, ['initiate Flat 1', 'hang-up'], 'during an active call the keypad does nothing');
  t.true(messages().includes('keypad * ignored while the unit is active'));
});

test('a call that ends at once (busy) or fails is told by three flashes', async (t) => {
  const { calls, flashes, type, lines } = rig();
  calls.failNext = 'no user is registered on this unit to call from';
  await type('102#');
  t.is(flashes.at(-1), 'refused');
  t.truthy(lines.find((line) => line.level === 40 && line.msg === 'keypad 102: could not call Flat 2: no user is registered on this unit to call from'));
});
