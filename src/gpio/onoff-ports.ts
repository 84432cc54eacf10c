import type { Gpio } from 'onoff';
import type { Logger } from '../logging/logger.js';
import type { GpioPortOpener, InputPort, Level, OutputPort } from './ports.js';

/** Where onoff works; it cannot be told otherwise, so chip mapping must read the same tree. */
export const ONOFF_SYSFS_ROOT = '/sys';

export type OnoffPortsResult = { ok: true; ports: GpioPortOpener } | { ok: false; reason: string };

/**
 * Loads onoff (a native addon) only when GPIO is wanted and the kernel has it, and checks that
 * this process may export pins. Never throws: a problem comes back as a reason for the status.
 */
export async function loadOnoffPorts(logger: Logger): Promise<OnoffPortsResult> {
  let GpioClass: typeof Gpio;
  try {
    ({ Gpio: GpioClass } = await import('onoff'));
  } catch (error) {
    return { ok: false, reason: `the onoff module cannot be loaded: ${(error as Error).message}` };
  }
  if (!GpioClass.accessible) {
    return {
      ok: false,
      reason: `cannot write ${ONOFF_SYSFS_ROOT}/class/gpio/export (sysfs GPIO missing, or this user is neither root nor in the gpio group)`,
    };
  }
  return { ok: true, ports: new OnoffPorts(GpioClass, logger) };
}

/** Opens sysfs GPIO pins through onoff. Levels are electrical: active-low is handled by the callers. */
export class OnoffPorts implements GpioPortOpener {
  constructor(
    private readonly GpioClass: typeof Gpio,
    private readonly logger: Logger,
  ) {}

  openInput(sysfsNumber: number, name: string): InputPort {
    // activeLow false on purpose: a pin left inverted by an earlier program would otherwise flip our levels.
    const gpio = new this.GpioClass(sysfsNumber, 'in', 'both', { activeLow: false });
    return new OnoffInput(gpio, name, this.logger.child({ pin: name, sysfs: sysfsNumber }));
  }

  openOutput(sysfsNumber: number, initial: Level, name: string): OutputPort {
    // 'high'/'low' set the direction and the level in one write, so the pin never shows the other level.
    const gpio = new this.GpioClass(sysfsNumber, initial === 1 ? 'high' : 'low', 'none', { activeLow: false });
    return new OnoffOutput(gpio, name, this.logger.child({ pin: name, sysfs: sysfsNumber }));
  }
}

class OnoffInput implements InputPort {
  private last: Level;
  private failing = false;

  constructor(
    private readonly gpio: Gpio,
    readonly name: string,
    private readonly logger: Logger,
  ) {
    this.last = gpio.readSync();
  }

  read(): Level {
    try {
      this.last = this.gpio.readSync();
      this.recovered();
    } catch (error) {
      this.failed('read', error);
    }
    return this.last;
  }

  watch(listener: (level: Level) => void): void {
    this.gpio.watch((error, value) => {
      if (error) {
        this.failed('watch', error);
        return;
      }
      this.last = value;
      listener(value);
    });
  }

  close(): void {
    try {
      this.gpio.unexport();
    } catch (error) {
      this.logger.warn({ err: error }, `could not release the ${this.name} pin`);
    }
  }

  private failed(what: string, error: unknown): void {
    // One line per failure spell, not one per edge.
    if (!this.failing) this.logger.warn({ err: error }, `GPIO ${what} failed on the ${this.name} pin`);
    this.failing = true;
  }

  private recovered(): void {
    if (this.failing) this.logger.info(`GPIO ${this.name} pin works again`);
    this.failing = false;
  }
}

class OnoffOutput implements OutputPort {
  private failing = false;

  constructor(
    private readonly gpio: Gpio,
    readonly name: string,
    private readonly logger: Logger,
  ) {}

  write(level: Level): void {
    try {
      this.gpio.writeSync(level);
      if (this.failing) this.logger.info(`GPIO ${this.name} pin works again`);
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.warn({ err: error }, `GPIO write failed on the ${this.name} pin`);
      this.failing = true;
    }
  }

  close(): void {
    try {
      this.gpio.unexport();
    } catch (error) {
      this.logger.warn({ err: error }, `could not release the ${this.name} pin`);
    }
  }
}
