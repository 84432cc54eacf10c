import type { GpioService } from '../../src/gpio/gpio-service.js';
import type { GpioConfig } from '../../src/gpio/gpio-config.js';
import { FakeGpioPorts, type FakeInputPort, type FakeOutputPort } from '../../src/gpio/ports.js';
import { FakeClock } from './fake-clock.js';
import { startUnit, type TestUnit, type TestUnitOptions } from './unit-harness.js';
import { BOARDS, fakeSysfs } from './fake-gpio.js';

/**
 * A whole unit in this process (startUnit: createUnit() as src/main.ts builds one, media double)
 * whose GPIO is real: a GpioService on fake ports over a fake Raspberry Pi 4 sysfs tree (6.6+
 * kernel, chip base 512). The GPIO runs on a FakeClock the test moves by hand (debounce, long
 * press, LED blinking); the calls run on the real clock over real HTTP.
 */

/** The default pins (BCM 5, 6, 13) as the kernel numbers them on a Pi 4 with a 6.6+ kernel. */
export const PI4_PINS = { call: 512 + 5, answer: 512 + 6, led: 512 + 13 } as const;

export interface GpioUnit extends TestUnit {
  gpio: GpioService;
  ports: FakeGpioPorts;
  /** Drives the GPIO's debounce, long-press and blink timers. */
  clock: FakeClock;
  config: GpioConfig;
  callButton: FakeInputPort;
  answerButton: FakeInputPort;
  ringLed: FakeOutputPort;
}

export interface GpioUnitOptions {
  /** Overrides of the shipped gpio config (enabled is forced on). */
  gpio?: Partial<GpioConfig>;
  eventsHeartbeatMs?: number;
  /** Serve the web panel from this directory (default: none). */
  webRoot?: string;
  /** Further unit options (MQTT settings, say). */
  unit?: Omit<TestUnitOptions, 'gpioConfig' | 'gpio' | 'webRoot' | 'eventsHeartbeatMs'>;
  /** The fake pins (default: plain FakeGpioPorts); e.g. KeypadGpioPorts with a keypad wired to some of them. */
  ports?: (clock: FakeClock) => FakeGpioPorts;
  /** Discovery timings of the unit (see TestUnitOptions). */
  discovery?: TestUnitOptions['discovery'];
}

export async function startUnitWithGpio(name: string, options: GpioUnitOptions = {}): Promise<GpioUnit> {
  const sysfs = await fakeSysfs(BOARDS.pi4Kernel66);
  const clock = new FakeClock();
  const ports = options.ports?.(clock) ?? new FakeGpioPorts(clock);
  const unit = await startUnit(name, {
    ...options.unit,
    eventsHeartbeatMs: options.eventsHeartbeatMs,
    webRoot: options.webRoot,
    discovery: options.discovery,
    gpioConfig: options.gpio ?? {},
    gpio: { clock, sysfsRoot: sysfs.root, loadPorts: async () => ({ ok: true, ports }) },
  });
  const gpio = unit.unit.gpio;
  const close = async () => {
    await unit.close();
    await sysfs.cleanup();
  };
  const started = gpio.status();
  if (!started.available) {
    await close();
    throw new Error(`${name}: GPIO did not start on the fake Pi 4: ${started.reason}`);
  }
  return {
    ...unit,
    gpio,
    ports,
    clock,
    config: unit.unit.config.gpio,
    callButton: ports.input(PI4_PINS.call),
    answerButton: ports.input(PI4_PINS.answer),
    ringLed: ports.output(PI4_PINS.led),
    close,
  };
}

/** The electrical level of a pressed button in `config` (buttons to ground by default). */
function pressedLevel(config: GpioConfig): 0 | 1 {
  return config.activeLow ? 0 : 1;
}

/** Pushes a button down and keeps it there past the debounce time. */
export async function pressButton(unit: GpioUnit, button: FakeInputPort): Promise<void> {
  button.set(pressedLevel(unit.config));
  await unit.clock.advance(unit.config.debounceMs);
}

/** Lets a button go and waits out the debounce time. */
export async function releaseButton(unit: GpioUnit, button: FakeInputPort): Promise<void> {
  button.set(pressedLevel(unit.config) === 0 ? 1 : 0);
  await unit.clock.advance(unit.config.debounceMs);
}

/** Down and up again, held `heldMs` in between (default: well short of a long press). */
export async function tapButton(unit: GpioUnit, button: FakeInputPort, heldMs = 100): Promise<void> {
  await pressButton(unit, button);
  await unit.clock.advance(heldMs);
  await releaseButton(unit, button);
}

