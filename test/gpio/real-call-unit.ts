import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { validateConfig } from '../../src/config/validate.js';
import defaults from '../../config/default.json' with { type: 'json' };
import { createUnitServices } from '../../src/signaling/unit-services.js';
import { buildApp } from '../../src/signaling/app.js';
import { GpioService } from '../../src/gpio/gpio-service.js';
import { callControlForService } from '../../src/gpio/call-service-control.js';
import type { GpioConfig } from '../../src/gpio/gpio-config.js';
import { FakeGpioPorts, type FakeInputPort, type FakeOutputPort } from '../../src/gpio/ports.js';
import { storePanelPassword } from '../../src/security/people-password.js';
import { FakeCallMedia } from '../calls/fake-call-media.js';
import { FakeClock } from '../calls/fake-clock.js';
import { TEST_PANEL_PASSWORD, loginWithInject } from '../support/people-session.js';
import type { TestUnit } from '../signaling/unit-harness.js';
import { BOARDS, fakeSysfs } from './support.js';

/**
 * A whole unit in this process, wired the way src/main.ts wires one: call service, HTTP API with
 * the GPIO event feed, and a real GpioService whose pins are fake ports on a fake Raspberry Pi 4
 * sysfs tree (6.6+ kernel, chip base 512). The GPIO runs on a FakeClock the test moves by hand
 * (debounce, long press, LED blinking); the calls run on the real clock over real HTTP.
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

let seed = 0;

export interface GpioUnitOptions {
  /** Overrides of the shipped gpio config (enabled is forced on). */
  gpio?: Partial<GpioConfig>;
  eventsHeartbeatMs?: number;
  /** Serve the web panel from this directory (default: none). */
  webRoot?: string;
}

export async function startUnitWithGpio(name: string, options: GpioUnitOptions = {}): Promise<GpioUnit> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `intercom-${name}-`));
  const sysfs = await fakeSysfs(BOARDS.pi4Kernel66);
  await storePanelPassword(dataDir, TEST_PANEL_PASSWORD);
  const config = validateConfig({
    ...defaults,
    unit: { name },
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    discovery: { dnsSd: false, pollIntervalMs: 200, offlineAfterMs: 1000, requestTimeoutMs: 1000 },
    gpio: { ...defaults.gpio, enabled: true, ...options.gpio },
  });
  seed++;
  const media = new FakeCallMedia(43000 + seed, 7000 + seed);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const clock = new FakeClock();
  const ports = new FakeGpioPorts(clock);

  let gpio: GpioService | undefined;
  const services = await createUnitServices(config, {
    callMedia: media,
    logger,
    version: '0.0.0-test',
    webRoot: options.webRoot ?? null,
    gpioStatus: () => gpio?.status() ?? null,
    openDoor: () => gpio?.pulseDoor() ?? { ok: false, code: 'gpio-unavailable', reason: 'GPIO is not set up' },
  });
  gpio = new GpioService({
    config: config.gpio,
    calls: callControlForService(services.calls, () => services.users.list()[0]?.name),
    logger: logger.child({ module: 'gpio' }),
    clock,
    sysfsRoot: sysfs.root,
    loadPorts: async () => ({ ok: true, ports }),
  });
  const app = await buildApp({ ...services.appDeps, gpio, eventsHeartbeatMs: options.eventsHeartbeatMs });
  const auth = await loginWithInject(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  await services.start({ httpPort: port });
  const started = await gpio.start();
  const close = async () => {
    await gpio.stop();
    await services.stop();
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
    await sysfs.cleanup();
  };
  if (!started.available) {
    await close();
    throw new Error(`${name}: GPIO did not start on the fake Pi 4: ${started.reason}`);
  }
  return {
    name,
    services,
    app,
    media,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    auth,
    gpio,
    ports,
    clock,
    config: config.gpio,
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

