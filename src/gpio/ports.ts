import type { Clock } from '../system/clock.js';

/** The electrical level of a pin: 0 is low (near ground), 1 is high (near 3.3 V). */
export type Level = 0 | 1;

/**
 * A GPIO input as the button logic needs it. Levels are electrical (raw): whether low means
 * "pressed" is the button's business, so the inversion lives in one tested place.
 */
export interface InputPort {
  /** The level right now. */
  read(): Level;
  /** Calls `listener` on every edge (both directions) with the level seen after it. */
  watch(listener: (level: Level) => void): void;
  /** Stops watching and releases the pin (unexports it). */
  close(): void;
}

/** A GPIO output. */
export interface OutputPort {
  write(level: Level): void;
  /** Releases the pin (unexports it); the pin keeps its last level. */
  close(): void;
}

/** Opens ports by kernel (sysfs) GPIO number; the BCM-to-sysfs mapping happens before (chip-map.ts). */
export interface GpioPortOpener {
  /** `name` says what the pin is for ("call button"), for log lines. */
  openInput(sysfsNumber: number, name: string): InputPort;
  /** `initial` is written as the pin becomes an output, so it never glitches through the other level. */
  openOutput(sysfsNumber: number, initial: Level, name: string): OutputPort;
}

// ---- test doubles ------------------------------------------------------------------------------

/** An input the test drives by hand. */
export class FakeInputPort implements InputPort {
  private level: Level;
  private readonly listeners: Array<(level: Level) => void> = [];
  closed = false;

  constructor(initial: Level = 1) {
    this.level = initial;
  }

  read(): Level {
    return this.level;
  }

  watch(listener: (level: Level) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.closed = true;
    this.listeners.length = 0;
  }

  /** The pin changes level: an edge is reported, as the kernel would. Setting the same level does nothing. */
  set(level: Level): void {
    if (level === this.level) return;
    this.level = level;
    this.notify(level);
  }

  /**
   * An edge is reported that the pin no longer shows: the kernel saw a spike (or the edge that
   * ended it was lost), and by the time anyone reads the pin it is back at its old level.
   */
  spike(level: Level): void {
    this.notify(level);
  }

  get watchers(): number {
    return this.listeners.length;
  }

  private notify(level: Level): void {
    for (const listener of [...this.listeners]) listener(level);
  }
}

/** An output that remembers every level written and when (by the injected clock). */
export class FakeOutputPort implements OutputPort {
  readonly writes: Array<{ at: number; level: Level }> = [];
  closed = false;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private current: Level = 0,
  ) {}

  get level(): Level {
    return this.current;
  }

  write(level: Level): void {
    if (this.closed) throw new Error('write to a closed port');
    this.current = level;
    this.writes.push({ at: this.clock.now(), level });
  }

  close(): void {
    this.closed = true;
  }
}

/** Hands out fake ports and keeps them by sysfs number, so a test can press buttons and watch LEDs. */
export class FakeGpioPorts implements GpioPortOpener {
  readonly inputs = new Map<number, FakeInputPort>();
  readonly outputs = new Map<number, FakeOutputPort>();
  /** sysfs numbers that fail to open, with the error message (e.g. EBUSY). */
  readonly failures = new Map<number, string>();
  /** The level a newly opened input starts at (1: released button with pull-up). */
  inputInitialLevel: Level = 1;

  constructor(private readonly clock: Pick<Clock, 'now'>) {}

  openInput(sysfsNumber: number): InputPort {
    this.failIfAsked(sysfsNumber);
    const port = new FakeInputPort(this.inputInitialLevel);
    this.inputs.set(sysfsNumber, port);
    return port;
  }

  openOutput(sysfsNumber: number, initial: Level): OutputPort {
    this.failIfAsked(sysfsNumber);
    const port = new FakeOutputPort(this.clock, initial);
    this.outputs.set(sysfsNumber, port);
    return port;
  }

  input(sysfsNumber: number): FakeInputPort {
    const port = this.inputs.get(sysfsNumber);
    if (!port) throw new Error(`no input opened at sysfs GPIO ${sysfsNumber}`);
    return port;
  }

  output(sysfsNumber: number): FakeOutputPort {
    const port = this.outputs.get(sysfsNumber);
    if (!port) throw new Error(`no output opened at sysfs GPIO ${sysfsNumber}`);
    return port;
  }

  private failIfAsked(sysfsNumber: number): void {
    const failure = this.failures.get(sysfsNumber);
    if (failure) throw new Error(failure);
  }
}
