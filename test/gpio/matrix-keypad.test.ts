import test from 'ava';
import { MatrixKeypad, type KeypadKey } from '../../src/gpio/matrix-keypad.js';
import { KEYPAD_LAYOUT } from '../../src/gpio/gpio-config.js';
import { FakeClock } from '../support/fake-clock.js';
import { KeypadGpioPorts } from '../support/fake-keypad.js';

// The 3x4 matrix keypad against a simulated one (test/support/fake-keypad.ts: columns pulled up,
// a pressed key joins its column to its row, levels follow every row write): scanning, debouncing,
// rollover, ghosting, keys held at start, stuck keys, and no work at all while nobody touches it.

const ROWS = [101, 102, 103, 104];
const COLUMNS = [201, 202, 203];
const DEBOUNCE_MS = 30;
const SCAN_MS = 10;

function keypadRig() {
  const clock = new FakeClock();
  const ports = new KeypadGpioPorts(clock, { rows: ROWS, columns: COLUMNS });
  const rows = ROWS.map((sysfs) => ports.openOutput(sysfs, 0));
  const columns = COLUMNS.map((sysfs) => ports.openInput(sysfs));
  const keypad = new MatrixKeypad(rows, columns, clock, { debounceMs: DEBOUNCE_MS, scanIntervalMs: SCAN_MS });
  const events: string[] = [];
  keypad.on('press', (key) => events.push(`press ${key}`));
  keypad.on('release', (key) => events.push(`release ${key}`));
  keypad.on('stuck', (stuck, keys) => events.push(`stuck ${stuck} ${keys.join('')}`));
  return { clock, ports, keypad, events, fake: ports.keypad };
}

test('each of the twelve keys is read as the key printed on it, once per press', async (t) => {
  const { clock, keypad, events, fake } = keypadRig();
  keypad.start();
  for (const key of KEYPAD_LAYOUT.flat() as KeypadKey[]) {
    fake.press(key);
    await clock.advance(100);
    fake.release(key);
    await clock.advance(100);
  }
  t.deepEqual(
    events,
    (KEYPAD_LAYOUT.flat() as KeypadKey[]).flatMap((key) => [`press ${key}`, `release ${key}`]),
  );
});

test('nothing is scanned while nobody touches the keypad; scanning stops once the key is let go', async (t) => {
  const { clock, keypad, fake, events } = keypadRig();
  keypad.start();
  const atStart = keypad.scanCount;
  await clock.advance(60_000);
  t.is(keypad.scanCount, atStart, 'a minute idle: no scan');
  t.false(keypad.scanning);
  fake.press('5');
  t.true(keypad.scanning, 'the column edge wakes the keypad');
  await clock.advance(DEBOUNCE_MS + SCAN_MS);
  t.deepEqual(events, ['press 5']);
  await clock.advance(1000);
  const whileHeld = keypad.scanCount;
  t.true(whileHeld - atStart >= 90 && whileHeld - atStart <= 110, `about 100 scans a second while held (${whileHeld - atStart})`);
  fake.release('5');
  await clock.advance(DEBOUNCE_MS + SCAN_MS);
  t.deepEqual(events, ['press 5', 'release 5']);
  t.false(keypad.scanning);
  const after = keypad.scanCount;
  await clock.advance(10_000);
  t.is(keypad.scanCount, after, 'idle again');
});

test('contact bounce and short spikes make no press; a press counts once it held for the debounce time', async (t) => {
  const { clock, keypad, fake, events } = keypadRig();
  keypad.start();
  // Bounce: down and up every 5 ms for 20 ms, then up.
  for (let i = 0; i < 4; i++) {
    fake.press('8');
    await clock.advance(5);
    fake.release('8');
    await clock.advance(5);
  }
  await clock.advance(200);
  t.deepEqual(events, [], 'no press');
  // A real press that bounces first, then holds.
  fake.press('8');
  await clock.advance(4);
  fake.release('8');
  await clock.advance(4);
  fake.press('8');
  await clock.advance(DEBOUNCE_MS - SCAN_MS);
  t.deepEqual(events, [], 'not yet: held for less than the debounce time');
  await clock.advance(2 * SCAN_MS);
  t.deepEqual(events, ['press 8']);
});

test('rolled-over keys both count; three keys at once are not trusted (ghosting) until fewer are held', async (t) => {
  const { clock, keypad, fake, events } = keypadRig();
  keypad.start();
  fake.press('1');
  await clock.advance(50);
  fake.press('2');
  await clock.advance(50);
  fake.release('1');
  await clock.advance(50);
  fake.release('2');
  await clock.advance(50);
  t.deepEqual(events, ['press 1', 'press 2', 'release 1', 'release 2']);

  events.length = 0;
  // Three keys at once (on a keypad without diodes, 1, 2 and 4 make 5 read pressed too): none believed.
  fake.press('1', '2', '4');
  await clock.advance(200);
  t.deepEqual(events, [], 'nothing believed while three or more keys read pressed');
  fake.release('1', '2');
  await clock.advance(200);
  t.deepEqual(events, ['press 4'], 'the key still held counts once the others are gone');
});

test('a key held while the keypad starts is not a press; its release and the next press are seen', async (t) => {
  const { clock, keypad, fake, events } = keypadRig();
  fake.press('#');
  keypad.start();
  await clock.advance(500);
  t.deepEqual(events, []);
  t.deepEqual(keypad.down, ['#']);
  fake.release('#');
  await clock.advance(100);
  fake.press('#');
  await clock.advance(100);
  t.deepEqual(events, ['release #', 'press #']);
});

test('keys that read pressed for 5 s are reported stuck and scanned slowly until they come free', async (t) => {
  const { clock, keypad, fake, events } = keypadRig();
  keypad.start();
  fake.press('0');
  await clock.advance(5000);
  t.deepEqual(events, ['press 0', 'stuck true 0']);
  t.true(keypad.stuck);
  const before = keypad.scanCount;
  await clock.advance(10_000);
  t.true(keypad.scanCount - before <= 41, `slow scanning while stuck (${keypad.scanCount - before} scans in 10 s)`);
  fake.release('0');
  await clock.advance(600);
  t.deepEqual(events, ['press 0', 'stuck true 0', 'stuck false ', 'release 0']);
  t.false(keypad.stuck);
  t.false(keypad.scanning);
});

test('stop() ends scanning and forgets the keys', async (t) => {
  const { clock, keypad, fake, events } = keypadRig();
  keypad.start();
  fake.press('3');
  await clock.advance(100);
  keypad.stop();
  t.false(keypad.scanning);
  t.is(clock.pendingTimers, 0);
  fake.release('3');
  fake.press('6');
  await clock.advance(100);
  t.deepEqual(events, ['press 3']);
});
