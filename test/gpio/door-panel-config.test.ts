import test from 'ava';
import { readFileSync } from 'node:fs';
import { ConfigError, validateConfig } from '../../src/config/validate.js';
import { gpioPins } from '../../src/gpio/gpio-config.js';
import { GpioService } from '../../src/gpio/gpio-service.js';
import { FakeGpioPorts } from '../../src/gpio/ports.js';
import { FakeClock } from '../support/fake-clock.js';
import { BOARDS, captureLogger, FakeCallControl, fakeSysfs } from '../support/fake-gpio.js';

// gpio.buttons and gpio.keypad in the configuration: accepted when right, refused at start with a
// message naming the exact key when wrong (the schema's checks and those it cannot make: line
// counts, dialable numbers, and one pin given two jobs).

const SHIPPED = JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as Record<string, any>;
const KEYPAD = { rows: [22, 23, 24, 25], columns: [16, 20, 21], directory: { '101': 'Flat 1', '7': 'Caretaker' } };

function withGpio(gpio: Record<string, unknown>): Record<string, any> {
  const config = structuredClone(SHIPPED);
  config.gpio = { ...config.gpio, ...gpio };
  return config;
}

function refusal(gpio: Record<string, unknown>): ConfigError {
  try {
    validateConfig(withGpio(gpio));
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(gpio)}`);
}

test('the shipped defaults have no flat buttons and no keypad, and a full door panel is accepted', (t) => {
  const shipped = validateConfig(SHIPPED);
  t.deepEqual(shipped.gpio.buttons, []);
  t.is(shipped.gpio.keypad, null);
  const panel = validateConfig(withGpio({ buttons: [{ pin: 17, target: 'Flat 1' }, { pin: 27, target: 'Reception' }], keypad: { ...KEYPAD, entryTimeoutMs: 5000, scanIntervalMs: 20 } }));
  t.deepEqual(gpioPins(panel.gpio), {
    callButton: 5,
    answerButton: 6,
    ringLed: 13,
    'buttons.0.pin': 17,
    'buttons.1.pin': 27,
    'keypad.rows.0': 22,
    'keypad.rows.1': 23,
    'keypad.rows.2': 24,
    'keypad.rows.3': 25,
    'keypad.columns.0': 16,
    'keypad.columns.1': 20,
    'keypad.columns.2': 21,
  });
});

const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['a flat button on the CALL button\'s pin', { buttons: [{ pin: 5, target: 'Flat 1' }] }, 'gpio.buttons.0.pin', /is BCM 5, which gpio\.callButton uses already/],
  ['two flat buttons on one pin', { buttons: [{ pin: 17, target: 'Flat 1' }, { pin: 17, target: 'Flat 2' }] }, 'gpio.buttons.1.pin', /is BCM 17, which gpio\.buttons\.0\.pin uses already/],
  ['a keypad column on a flat button\'s pin', { buttons: [{ pin: 16, target: 'Flat 1' }], keypad: KEYPAD }, 'gpio.keypad.columns.0', /is BCM 16, which gpio\.buttons\.0\.pin uses already/],
  ['a keypad row on the door relay', { doorRelay: 25, keypad: KEYPAD }, 'gpio.keypad.rows.3', /is BCM 25, which gpio\.doorRelay uses already/],
  ['a keypad row twice', { keypad: { ...KEYPAD, rows: [22, 23, 22, 25] } }, 'gpio.keypad.rows.2', /is BCM 22, which gpio\.keypad\.rows\.0 uses already/],
  ['three rows', { keypad: { ...KEYPAD, rows: [22, 23, 24] } }, 'gpio.keypad.rows', /lists 3 pins; a 3x4 keypad has 4 row lines/],
  ['four columns', { keypad: { ...KEYPAD, columns: [16, 20, 21, 26] } }, 'gpio.keypad.columns', /lists 4 pins; a 3x4 keypad has 3 column lines/],
  ['a number with a letter', { keypad: { ...KEYPAD, directory: { '10A': 'Flat 1' } } }, 'gpio.keypad.directory.10A', /is not a number a visitor can type on the keypad \(1 to 8 digits 0-9\)/],
  ['a number too long', { keypad: { ...KEYPAD, directory: { '123456789': 'Flat 1' } } }, 'gpio.keypad.directory.123456789', /not a number a visitor can type/],
  ['an empty directory', { keypad: { ...KEYPAD, directory: {} } }, 'gpio.keypad.directory', /is empty/],
  ['a number ringing nobody', { keypad: { ...KEYPAD, directory: { '101': '' } } }, 'gpio.keypad.directory.101', /expected/],
  ['a pin off the chip', { buttons: [{ pin: 99, target: 'Flat 1' }] }, 'gpio.buttons.0.pin', /expected an integer from 0 to 57/],
  ['a button without a target', { buttons: [{ pin: 17 }] }, 'gpio.buttons.0.target', /is missing/],
  ['a misspelt keypad setting', { keypad: { ...KEYPAD, timeoutMs: 5000 } }, 'gpio.keypad.timeoutMs', /not a known setting/],
  ['an entry timeout too short', { keypad: { ...KEYPAD, entryTimeoutMs: 10 } }, 'gpio.keypad.entryTimeoutMs', /from 1000 to 60000/],
];

for (const [title, gpio, key, message] of cases) {
  test(`refused naming the key: ${title}`, (t) => {
    const error = refusal(gpio);
    t.is(error.key, key, error.message);
    t.regex(error.message, message);
    t.true(error.message.startsWith(`config key "${key}"`), error.message);
  });
}

test('a clash that reaches the GPIO service without validation (a test or a later caller) leaves GPIO off with the reason', async (t) => {
  const sysfs = await fakeSysfs(BOARDS.pi4Kernel66);
  t.teardown(sysfs.cleanup);
  const clock = new FakeClock();
  const { logger } = captureLogger();
  const gpio = new GpioService({
    config: { ...SHIPPED.gpio, buttons: [{ pin: 13, target: 'Flat 1' }] },
    calls: new FakeCallControl(),
    logger,
    clock,
    sysfsRoot: sysfs.root,
    loadPorts: async () => ({ ok: true, ports: new FakeGpioPorts(clock) }),
  });
  t.like(await gpio.start(), { available: false, reason: 'gpio.buttons.0.pin is BCM 13, which gpio.ringLed uses already: each pin can do one job' });
});
