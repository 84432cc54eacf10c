import { existsSync } from 'node:fs';
import test from 'ava';
import type { GpioConfig } from '../../src/gpio/gpio-config.js';
import { GpioService } from '../../src/gpio/gpio-service.js';
import type { GpioStatus } from '../../src/gpio/gpio-status.js';
import type { OnoffPortsResult } from '../../src/gpio/onoff-ports.js';
import { FakeGpioPorts } from '../../src/gpio/ports.js';
import { FakeClock } from '../support/fake-clock.js';
import { BOARDS, captureLogger, fakeSysfs, FakeCallControl } from '../support/fake-gpio.js';
import { DEFAULT_GPIO_CONFIG } from '../support/shipped-config.js';

const CONFIG: GpioConfig = { ...DEFAULT_GPIO_CONFIG, callButton: 5, answerButton: 6, ringLed: 13, doorRelay: 26, doorPulseMs: 1000 };
// Pi 4 on a 6.6+ kernel: base 512.
const CALL = 517;
const ANSWER = 518;
const LED = 525;
const RELAY = 538;

async function service(
  options: { config?: Partial<GpioConfig>; chips?: typeof BOARDS.pi4Kernel66 | null; loadPorts?: () => Promise<OnoffPortsResult>; inputLevel?: 0 | 1 } = {},
) {
  const clock = new FakeClock();
  const sysfs = await fakeSysfs(options.chips === undefined ? BOARDS.pi4Kernel66 : options.chips);
  const ports = new FakeGpioPorts(clock);
  if (options.inputLevel !== undefined) ports.inputInitialLevel = options.inputLevel;
  const calls = new FakeCallControl();
  const { logger, lines } = captureLogger();
  let portsLoaded = 0;
  const gpio = new GpioService({
    config: { ...CONFIG, ...options.config },
    calls,
    logger,
    clock,
    sysfsRoot: sysfs.root,
    loadPorts:
      options.loadPorts ??
      (async () => {
        portsLoaded++;
        return { ok: true, ports };
      }),
  });
  const statuses: GpioStatus[] = [];
  gpio.on('status', (status) => statuses.push(status));
  return { clock, sysfs, ports, calls, lines, gpio, statuses, portsLoaded: () => portsLoaded };
}

test('sysfs GPIO missing: the status says why, the log warns, onoff is never loaded, and nothing throws', async (t) => {
  const { sysfs, gpio, lines, portsLoaded } = await service({ chips: null });
  t.teardown(sysfs.cleanup);
  const status = await gpio.start();
  t.is(status.available, false);
  t.like(status, { available: false, enabled: true });
  t.regex((status as { reason: string }).reason, /^sysfs GPIO is missing: .*\/class\/gpio does not exist/);
  t.deepEqual(gpio.status(), status);
  t.is(portsLoaded(), 0);
  const warning = lines.find((line) => line.level === 40);
  t.truthy(warning);
  t.regex(warning!.msg, /^GPIO unavailable: sysfs GPIO is missing: .*; the CALL\/ANSWER buttons, ring LED and door relay are off; the rest of the unit keeps working$/);
  t.like(gpio.pulseDoor(), { ok: false, code: 'gpio-unavailable' });
  await gpio.stop();
});

const onMachineWithoutGpio = existsSync('/sys/class/gpio') ? test.skip : test;
onMachineWithoutGpio('on a machine without sysfs GPIO (like CI), the real defaults report it the same way', async (t) => {
  const { logger } = captureLogger();
  const gpio = new GpioService({ config: CONFIG, calls: new FakeCallControl(), logger });
  const status = await gpio.start();
  t.deepEqual(status, {
    available: false,
    enabled: true,
    reason: 'sysfs GPIO is missing: /sys/class/gpio does not exist (this kernel has no GPIO, or was built without CONFIG_GPIO_SYSFS)',
  });
});

test('disabled in the config: says so at info level and touches nothing', async (t) => {
  const { sysfs, gpio, lines, portsLoaded } = await service({ config: { enabled: false } });
  t.teardown(sysfs.cleanup);
  t.deepEqual(await gpio.start(), { available: false, enabled: false, reason: 'GPIO is disabled in the configuration (gpio.enabled is false)' });
  t.is(portsLoaded(), 0);
  t.is(lines.filter((line) => line.level >= 40).length, 0);
});

test('two roles on one pin are refused with the roles named', async (t) => {
  const { sysfs, gpio } = await service({ config: { ringLed: 5 } });
  t.teardown(sysfs.cleanup);
  t.like(await gpio.start(), { available: false, reason: 'gpio.ringLed is BCM 5, which gpio.callButton uses already: each pin can do one job' });
});

test('no permission to export pins: the loader\'s reason reaches the status', async (t) => {
  const reason = 'cannot write /sys/class/gpio/export (sysfs GPIO missing, or this user is neither root nor in the gpio group)';
  const { sysfs, gpio } = await service({ loadPorts: async () => ({ ok: false, reason }) });
  t.teardown(sysfs.cleanup);
  t.deepEqual(await gpio.start(), { available: false, enabled: true, reason });
});

test('a pin that cannot be opened is named, and the pins opened before it are released', async (t) => {
  const { sysfs, gpio, ports } = await service();
  t.teardown(sysfs.cleanup);
  ports.failures.set(LED, 'EBUSY: resource busy or locked, write');
  const status = await gpio.start();
  t.like(status, { available: false, reason: 'could not open the ring LED pin (gpio.ringLed: BCM 13, gpio525): EBUSY: resource busy or locked, write' });
  t.true(ports.input(CALL).closed);
  t.true(ports.input(ANSWER).closed);
});

test('with GPIO: pins mapped through the chip base, buttons drive calls, LED and relay follow, stop releases all', async (t) => {
  const { clock, sysfs, gpio, ports, calls, statuses } = await service();
  t.teardown(sysfs.cleanup);
  const status = await gpio.start();
  t.deepEqual(status, {
    available: true,
    enabled: true,
    board: 'Raspberry Pi 4/400/CM4',
    chip: { name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512 },
    pins: {
      callButton: { bcm: 5, sysfs: CALL },
      answerButton: { bcm: 6, sysfs: ANSWER },
      ringLed: { bcm: 13, sysfs: LED },
      doorRelay: { bcm: 26, sysfs: RELAY },
    },
    buttons: { call: false, answer: false },
    led: 'off',
    doorRelay: { energised: false, pulseMs: 1000 },
    warnings: [],
  });
  t.is(ports.output(LED).level, 0);
  t.is(ports.output(RELAY).level, 0);

  // The door stays shut unless a call is active.
  t.like(gpio.pulseDoor(), { ok: false, code: 'no-active-call' });

  // CALL rings the configured callee; the status shows the button down and the LED blinking.
  ports.input(CALL).set(0);
  await clock.advance(30);
  t.deepEqual(calls.requests, ['initiate Front door']);
  t.like(gpio.status(), { buttons: { call: true, answer: false }, led: 'blinking' });
  ports.input(CALL).set(1);
  await clock.advance(30);
  t.like(gpio.status(), { buttons: { call: false } });
  t.like(statuses.at(-1), { buttons: { call: false }, led: 'blinking' }, 'changes are published as events');

  calls.remoteAnswers();
  t.like(gpio.status(), { led: 'steady' });
  t.is(ports.output(LED).level, 1);

  // Door relay during the call: one pulse of doorPulseMs.
  const pulseStart = clock.now();
  t.deepEqual(gpio.pulseDoor(), { ok: true, pulseMs: 1000 });
  t.like(gpio.pulseDoor(), { ok: false, code: 'already-open' });
  t.like(gpio.status(), { doorRelay: { energised: true } });
  await clock.advance(1000);
  t.deepEqual(
    ports.output(RELAY).writes.map((write) => [write.at - pulseStart, write.level]),
    [
      [0, 1],
      [1000, 0],
    ],
  );
  t.like(gpio.status(), { doorRelay: { energised: false } });

  await gpio.stop();
  t.is(ports.output(LED).level, 0, 'LED turned off before release');
  t.is(ports.output(RELAY).level, 0);
  for (const port of [ports.input(CALL), ports.input(ANSWER), ports.output(LED), ports.output(RELAY)]) t.true(port.closed);
  t.like(gpio.status(), { available: false, reason: 'GPIO has been stopped' });
  t.is(clock.pendingTimers, 0);
});

test('without a door relay configured, opening the door is refused with that reason', async (t) => {
  const { sysfs, gpio, calls, ports } = await service({ config: { doorRelay: null } });
  t.teardown(sysfs.cleanup);
  const status = await gpio.start();
  t.like(status, { available: true, doorRelay: null });
  t.is(ports.outputs.size, 1);
  calls.remoteCalls();
  calls.remoteAnswers();
  t.like(gpio.pulseDoor(), { ok: false, code: 'no-relay' });
  await gpio.stop();
});

test('an active-low relay module is opened at its rest level (high), so starting up does not open the door', async (t) => {
  const { sysfs, gpio, ports } = await service({ config: { doorRelayActiveLow: true } });
  t.teardown(sysfs.cleanup);
  await gpio.start();
  t.deepEqual(ports.output(RELAY).writes, [], 'no write needed: the pin was created high');
  t.is(ports.output(RELAY).level, 1);
  await gpio.stop();
  t.is(ports.output(RELAY).level, 1);
});

test('Pi 5 numbering reaches the ports (BCM 5 -> gpio576)', async (t) => {
  const { sysfs, gpio, ports } = await service({ chips: BOARDS.pi5Kernel66 });
  t.teardown(sysfs.cleanup);
  await gpio.start();
  t.truthy(ports.inputs.get(571 + 5));
  t.truthy(ports.outputs.get(571 + 13));
  await gpio.stop();
});

test('two start() calls at once set up the pins once', async (t) => {
  const { sysfs, gpio, portsLoaded } = await service();
  t.teardown(sysfs.cleanup);
  const [first, second] = await Promise.all([gpio.start(), gpio.start()]);
  t.deepEqual(first, second);
  t.is(first.available, true);
  t.is(portsLoaded(), 1);
  await gpio.stop();
});

test('a button that reads "pressed" from start (no pull-up on BCM 9) is warned about once, shown in the status, and cleared on release', async (t) => {
  // BCM 9 and 10 are pulled down at reset: active-low buttons there read low with nobody pressing.
  const { clock, sysfs, gpio, ports, calls, lines, statuses } = await service({ config: { callButton: 9, answerButton: 10 }, inputLevel: 0 });
  t.teardown(sysfs.cleanup);
  const started = await gpio.start();
  t.like(started, { available: true, buttons: { call: true, answer: true }, warnings: [] }, 'not a warning yet: someone may be holding a button');
  await clock.advance(2000);
  const status = gpio.status();
  t.like(status, { available: true });
  const warnings = (status as { warnings: Array<{ code: string; pin: string; bcm: number; message: string }> }).warnings;
  t.deepEqual(
    warnings.map(({ code, pin, bcm }) => ({ code, pin, bcm })),
    [
      { code: 'button-stuck', pin: 'callButton', bcm: 9 },
      { code: 'button-stuck', pin: 'answerButton', bcm: 10 },
    ],
  );
  t.regex(warnings[0].message, /CALL button \(gpio\.callButton: BCM 9\) has read low.*gpio\.activeLow true.*gpio=9=ip,pu.*gpio\.activeLow false/);
  t.deepEqual(statuses.at(-1), status, 'the warning is published as a status event');
  const warningLines = () => lines.filter((line) => line.level === 40);
  t.deepEqual(
    warningLines().map((line) => line.gpio),
    [
      { warning: 'button-stuck', pin: 'callButton', bcm: 9 },
      { warning: 'button-stuck', pin: 'answerButton', bcm: 10 },
    ],
  );
  t.is(warningLines()[0].msg, warnings[0].message);
  await clock.advance(60_000);
  t.is(warningLines().length, 2, 'logged once, not again while it stays stuck');
  t.deepEqual(calls.requests, [], 'a stuck button makes no call');

  // The CALL line goes high (a pull-up after all): the warning clears and that is published too.
  const eventsBefore = statuses.length;
  ports.input(512 + 9).set(1);
  await clock.advance(30);
  t.deepEqual(
    (gpio.status() as { warnings: Array<{ pin: string }> }).warnings.map((warning) => warning.pin),
    ['answerButton'],
  );
  t.true(statuses.length > eventsBefore);
  t.deepEqual((statuses.at(-1) as { warnings: Array<{ pin: string }> }).warnings.map((warning) => warning.pin), ['answerButton']);
  t.truthy(lines.find((line) => line.level === 30 && /CALL button \(gpio\.callButton: BCM 9\) reads released now/.test(line.msg)));
  t.is(warningLines().length, 2);
  await gpio.stop();
  t.is(clock.pendingTimers, 0);
});

test('buttons to 3.3 V (activeLow false) that read high from start get the pull-down advice', async (t) => {
  const { clock, sysfs, gpio } = await service({ config: { activeLow: false }, inputLevel: 1 });
  t.teardown(sysfs.cleanup);
  await gpio.start();
  await clock.advance(2000);
  const { warnings } = gpio.status() as { warnings: Array<{ bcm: number; message: string }> };
  t.deepEqual(
    warnings.map((warning) => warning.bcm),
    [5, 6],
  );
  t.regex(warnings[0].message, /has read high.*gpio\.activeLow false.*gpio=5=ip,pd.*gpio\.activeLow true/);
  await gpio.stop();
});

test('released buttons at start never warn', async (t) => {
  const { clock, sysfs, gpio, lines } = await service();
  t.teardown(sysfs.cleanup);
  await gpio.start();
  await clock.advance(10_000);
  t.like(gpio.status(), { warnings: [] });
  t.is(lines.filter((line) => line.level >= 40).length, 0);
  await gpio.stop();
});
