import type { Clock, TimerHandle } from '../system/clock.js';
import type { Level, OutputPort } from './ports.js';

/** muted: lit with a short dark blink once per blink period (a call with the microphone muted). */
export type LedMode = 'off' | 'steady' | 'blinking' | 'muted';

/** How long the LED goes dark in each period of the muted mode. */
export const MUTED_DARK_MS = 150;

export interface LedOptions {
  /** One full on+off cycle while blinking. Default 1000 ms. */
  blinkPeriodMs?: number;
  /** The LED lights when the pin is low (wired from 3.3 V to the pin). Default false. */
  activeLow?: boolean;
}

export const DEFAULT_BLINK_PERIOD_MS = 1000;

/**
 * An indicator LED on an output port: off, steady, blinking or muted (lit with a short dark blink). Asking for the mode it is already
 * in changes nothing, so a caller can re-apply its wish on every event without upsetting the rhythm.
 */
export class Led {
  private current: LedMode = 'off';
  private lit = false;
  private blinkTimer: TimerHandle | null = null;
  private relightTimer: TimerHandle | null = null;
  private readonly halfPeriodMs: number;
  private readonly onLevel: Level;

  constructor(
    private readonly port: OutputPort,
    private readonly clock: Clock,
    options: LedOptions = {},
  ) {
    this.halfPeriodMs = Math.max(1, Math.round((options.blinkPeriodMs ?? DEFAULT_BLINK_PERIOD_MS) / 2));
    this.onLevel = options.activeLow ? 0 : 1;
  }

  /** The level that keeps this LED dark, for opening its port without a flash. */
  static offLevel(options: Pick<LedOptions, 'activeLow'> = {}): Level {
    return options.activeLow ? 1 : 0;
  }

  get mode(): LedMode {
    return this.current;
  }

  /** Whether the LED is lit at this moment (flips while blinking). */
  get isLit(): boolean {
    return this.lit;
  }

  set(mode: LedMode): void {
    if (mode === this.current) return;
    this.current = mode;
    this.stopBlinking();
    if (mode === 'off') this.light(false);
    else if (mode === 'steady') this.light(true);
    else if (mode === 'muted') {
      this.light(true);
      const darkMs = Math.min(MUTED_DARK_MS, this.halfPeriodMs);
      this.blinkTimer = this.clock.setInterval(() => {
        this.light(false);
        this.relightTimer = this.clock.setTimeout(() => {
          this.relightTimer = null;
          this.light(true);
        }, darkMs);
      }, this.halfPeriodMs * 2);
    } else {
      // Blinking starts lit so the change shows at once.
      this.light(true);
      this.blinkTimer = this.clock.setInterval(() => this.light(!this.lit), this.halfPeriodMs);
    }
  }

  /** Turns the LED off and stops its timer; the port stays open (the owner closes it). */
  stop(): void {
    this.stopBlinking();
    this.current = 'off';
    this.light(false);
  }

  private stopBlinking(): void {
    if (this.blinkTimer) this.clock.clearInterval(this.blinkTimer);
    this.blinkTimer = null;
    if (this.relightTimer) this.clock.clearTimeout(this.relightTimer);
    this.relightTimer = null;
  }

  private light(on: boolean): void {
    this.lit = on;
    this.port.write(on ? this.onLevel : ((1 - this.onLevel) as Level));
  }
}
