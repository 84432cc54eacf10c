/**
 * The onoff adapter against a real kernel's GPIO: simulated lines from the gpio-sim module, which
 * raise real edge interrupts through the sysfs interface onoff uses. Runs as root on a kernel with
 * CONFIG_GPIO_SYSFS and gpio-sim (the QEMU-booted image); elsewhere every test is skipped with the
 * reason in its title.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { Gpio } from 'onoff';
import { readGpioChips } from '../../src/gpio/chip-map.js';
import { GpioService } from '../../src/gpio/gpio-service.js';
import { loadOnoffPorts } from '../../src/gpio/onoff-ports.js';
import type { GpioPortOpener, Level } from '../../src/gpio/ports.js';
import { systemClock } from '../../src/system/clock.js';
import { captureLogger, FakeCallControl } from '../support/fake-gpio.js';
import { DEFAULT_GPIO_CONFIG } from '../support/shipped-config.js';

const CONFIGFS = '/sys/kernel/config/gpio-sim';
const SIM_LABEL = `intercom-test-${process.pid}`;

/** Why these tests cannot run here, or null when they can. */
function skipReason(): string | null {
  if (!Gpio.accessible) return 'no writable /sys/class/gpio/export here (no sysfs GPIO, or not root); run in the QEMU image with gpio-sim';
  if (!existsSync(CONFIGFS)) spawnSync('modprobe', ['gpio-sim'], { stdio: 'ignore' });
  if (!existsSync('/sys/kernel/config/gpio-sim') && existsSync('/sys/kernel/config')) {
    spawnSync('mount', ['-t', 'configfs', 'none', '/sys/kernel/config'], { stdio: 'ignore' });
  }
  if (!existsSync(CONFIGFS)) return `gpio-sim is not available (${CONFIGFS} missing after modprobe gpio-sim)`;
  return null;
}

/** A simulated chip made through configfs; its lines' inputs are driven by setting pulls. */
class GpioSimChip {
  private constructor(
    private readonly dir: string,
    readonly devName: string,
    readonly chipName: string,
  ) {}

  static async create(label: string, lines: number): Promise<GpioSimChip> {
    const dir = join(CONFIGFS, label);
    const bank = join(dir, 'bank0');
    await mkdir(dir);
    await mkdir(bank);
    await writeFile(join(bank, 'num_lines'), String(lines));
    await writeFile(join(bank, 'label'), label);
    await writeFile(join(dir, 'live'), '1');
    const devName = (await readFile(join(dir, 'dev_name'), 'utf8')).trim();
    const chipName = (await readFile(join(bank, 'chip_name'), 'utf8')).trim();
    return new GpioSimChip(dir, devName, chipName);
  }

  private line(offset: number, attribute: 'pull' | 'value'): string {
    return `/sys/devices/platform/${this.devName}/${this.chipName}/sim_gpio${offset}/${attribute}`;
  }

  /** What the outside world does to an input: pull-up reads 1, pull-down reads 0. */
  async drive(offset: number, level: Level): Promise<void> {
    await writeFile(this.line(offset, 'pull'), level === 1 ? 'pull-up' : 'pull-down');
  }

  /** What an output is driving. */
  async value(offset: number): Promise<Level> {
    return Number((await readFile(this.line(offset, 'value'), 'utf8')).trim()) as Level;
  }

  async destroy(): Promise<void> {
    await writeFile(join(this.dir, 'live'), '0');
    await rmdir(join(this.dir, 'bank0'));
    await rmdir(this.dir);
  }
}

const reason = skipReason();
const simTest = reason ? test.skip : test.serial;
const title = (text: string) => (reason ? `${text} (skipped: ${reason})` : text);

let sim: GpioSimChip;
let base: number;
let ports: GpioPortOpener;

if (!reason) {
  test.before(async () => {
    sim = await GpioSimChip.create(SIM_LABEL, 8);
    const chip = (await readGpioChips('/sys')).find((candidate) => candidate.label === SIM_LABEL);
    if (!chip) throw new Error(`gpio-sim chip ${SIM_LABEL} did not appear under /sys/class/gpio`);
    base = chip.base;
    const loaded = await loadOnoffPorts(captureLogger().logger);
    if (!loaded.ok) throw new Error(loaded.reason);
    ports = loaded.ports;
  });
  test.after.always(async () => {
    await sim?.destroy();
  });
}

/** Resolves with the next level an input's watcher reports, or fails after `ms`. */
function nextEdge(watchers: Array<(level: Level) => void>, ms = 2000): Promise<Level> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no edge within ${ms} ms`)), ms);
    watchers.push((level) => {
      clearTimeout(timer);
      resolve(level);
    });
  });
}

simTest(title('an input reads the line and reports both edges with real interrupts'), async (t) => {
  await sim.drive(0, 1);
  const input = ports.openInput(base + 0, 'test input');
  t.teardown(() => input.close());
  t.is(input.read(), 1);
  const waiting: Array<(level: Level) => void> = [];
  input.watch((level) => waiting.shift()?.(level));

  const falling = nextEdge(waiting);
  await sim.drive(0, 0);
  t.is(await falling, 0);
  t.is(input.read(), 0);

  const rising = nextEdge(waiting);
  await sim.drive(0, 1);
  t.is(await rising, 1);
});

simTest(title('an output starts at the level asked for and follows writes; close() unexports it'), async (t) => {
  const low = ports.openOutput(base + 1, 0, 'test output low');
  const high = ports.openOutput(base + 2, 1, 'test output high');
  t.is(await sim.value(1), 0);
  t.is(await sim.value(2), 1);
  low.write(1);
  t.is(await sim.value(1), 1);
  low.write(0);
  t.is(await sim.value(1), 0);
  low.close();
  high.close();
  t.false(existsSync(`/sys/class/gpio/gpio${base + 1}`));
  t.false(existsSync(`/sys/class/gpio/gpio${base + 2}`));
});

simTest(title('the whole front panel on real GPIO: CALL rings, the LED blinks, stop() releases the pins'), async (t) => {
  const calls = new FakeCallControl();
  const { logger } = captureLogger();
  const gpio = new GpioService({
    config: { ...DEFAULT_GPIO_CONFIG, callButton: 3, answerButton: 4, ringLed: 5, doorRelay: 6, debounceMs: 30 },
    calls,
    logger,
    clock: systemClock,
    sysfsRoot: '/sys',
    chipLabels: [SIM_LABEL],
  });
  await sim.drive(3, 1);
  await sim.drive(4, 1);
  const status = await gpio.start();
  t.teardown(() => gpio.stop());
  t.like(status, { available: true, board: SIM_LABEL, pins: { callButton: { bcm: 3, sysfs: base + 3 } } });
  t.is(await sim.value(5), 0, 'LED off while idle');

  const ringing = new Promise<void>((resolve) => calls.onChange((state) => state === 'ringing-out' && resolve()));
  await sim.drive(3, 0);
  await ringing;
  t.deepEqual(calls.requests, ['initiate Front door']);
  t.is(await sim.value(5), 1, 'LED lit as blinking starts');
  await sim.drive(3, 1);

  calls.remoteAnswers();
  t.deepEqual(gpio.pulseDoor(), { ok: true, pulseMs: DEFAULT_GPIO_CONFIG.doorPulseMs });
  t.is(await sim.value(6), 1, 'relay energised');

  await gpio.stop();
  t.is(await sim.value(5), 0);
  t.is(await sim.value(6), 0, 'relay released on stop');
  for (const offset of [3, 4, 5, 6]) t.false(existsSync(`/sys/class/gpio/gpio${base + offset}`), `line ${offset} unexported`);
});

const withoutGpio = Gpio.accessible ? test.skip : test;
withoutGpio('where pins cannot be exported, loading the adapter says why instead of throwing', async (t) => {
  const loaded = await loadOnoffPorts(captureLogger().logger);
  t.deepEqual(loaded, {
    ok: false,
    reason: 'cannot write /sys/class/gpio/export (sysfs GPIO missing, or this user is neither root nor in the gpio group)',
  });
});
