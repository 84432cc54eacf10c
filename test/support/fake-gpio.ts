import { pino } from 'pino';
import type { Logger } from '../../src/logging/logger.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines the test can read back. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; messages: () => string[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, messages: () => lines.map((line) => line.msg) };
}

import type { CallControl, PanelCallState } from '../../src/gpio/call-buttons.js';

/**
 * A call service as the panel sees it: requests move the state the way the real one does, and
 * the test plays the other unit (remoteCalls, remoteAnswers, remoteHangsUp).
 */
export class FakeCallControl implements CallControl {
  current: PanelCallState = 'idle';
  readonly requests: string[] = [];
  /** When set, the next request fails with this message. */
  failNext: string | null = null;
  private readonly listeners = new Set<(state: PanelCallState) => void>();

  state(): PanelCallState {
    return this.current;
  }

  async initiate(to: string): Promise<void> {
    this.request(`initiate ${to}`, ['idle'], 'ringing-out');
  }

  async accept(): Promise<void> {
    this.request('accept', ['ringing-in'], 'active');
  }

  async reject(): Promise<void> {
    this.request('reject', ['ringing-in'], 'idle');
  }

  async hangUp(): Promise<void> {
    this.request('hang-up', ['active', 'ringing-out'], 'idle');
  }

  onChange(listener: (state: PanelCallState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  remoteCalls(): void {
    this.move('ringing-in');
  }

  remoteAnswers(): void {
    this.move('active');
  }

  remoteHangsUp(): void {
    this.move('idle');
  }

  private request(what: string, from: PanelCallState[], to: PanelCallState): void {
    this.requests.push(what);
    if (this.failNext) {
      const message = this.failNext;
      this.failNext = null;
      throw new Error(message);
    }
    if (!from.includes(this.current)) throw new Error(`cannot ${what} while ${this.current}`);
    this.move(to);
  }

  private move(state: PanelCallState): void {
    this.current = state;
    for (const listener of [...this.listeners]) listener(state);
  }
}

import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GpioChipInfo } from '../../src/gpio/chip-map.js';

/** Chip sets as real boards show them under /sys/class/gpio. */
export const BOARDS = {
  /** Raspberry Pi 4 on a 6.6+ kernel: dynamic bases from 512. */
  pi4Kernel66: [
    { name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
    { name: 'gpiochip570', label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
  ],
  /** Raspberry Pi 5 on a 6.6+ kernel: the SoC's own chips first, the header on RP1 at 571. */
  pi5Kernel66: [
    { name: 'gpiochip512', label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
    { name: 'gpiochip544', label: 'gpio-brcmstb@107d508520', base: 544, ngpio: 4 },
    { name: 'gpiochip548', label: 'gpio-brcmstb@107d517c00', base: 548, ngpio: 17 },
    { name: 'gpiochip565', label: 'gpio-brcmstb@107d517c20', base: 565, ngpio: 6 },
    { name: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 },
  ],
  /** Raspberry Pi 3 on an older kernel: fixed numbering from 0. */
  pi3OldKernel: [
    { name: 'gpiochip0', label: 'pinctrl-bcm2835', base: 0, ngpio: 54 },
    { name: 'gpiochip504', label: 'raspberrypi-exp-gpio', base: 504, ngpio: 8 },
  ],
} satisfies Record<string, GpioChipInfo[]>;

/**
 * A fake sysfs tree in a temp dir. `chips` null leaves out class/gpio entirely (a kernel without
 * sysfs GPIO). Remove it with cleanup().
 */
export async function fakeSysfs(chips: GpioChipInfo[] | null): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'intercom-sysfs-'));
  await mkdir(join(root, 'class'), { recursive: true });
  if (chips) {
    await mkdir(join(root, 'class', 'gpio'));
    await writeFile(join(root, 'class', 'gpio', 'export'), '');
    await writeFile(join(root, 'class', 'gpio', 'unexport'), '');
    for (const chip of chips) {
      const dir = join(root, 'class', 'gpio', chip.name);
      await mkdir(dir);
      await writeFile(join(dir, 'label'), `${chip.label}\n`);
      await writeFile(join(dir, 'base'), `${chip.base}\n`);
      await writeFile(join(dir, 'ngpio'), `${chip.ngpio}\n`);
    }
  }
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}
