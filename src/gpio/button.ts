import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { InputPort, Level } from './ports.js';

export interface ButtonOptions {
  /** What the button is for, e.g. "call"; carried in events for log lines. */
  name: string;
  /** A level must hold this long after the last edge before it counts. Default 30 ms. */
  debounceMs?: number;
  /** Held this long, a press becomes a long press (reported while still held). Default 1500 ms. */
  longPressMs?: number;
  /** Pressed pulls the pin low (button to ground, pull-up resistor). Default true. */
  activeLow?: boolean;
  /**
   * Reading "pressed" from start() on for this long, without ever being released, makes the
   * button stuck (see `stuck`). Default 2000 ms.
   */
  stuckAfterMs?: number;
}

export type ButtonEvents = {
  /** The button went down (after debouncing). */
  press: [];
  /** The button came up; `heldMs` is how long it was down. */
  release: [heldMs: number];
  /** Released before the long-press threshold. */
  'short-press': [heldMs: number];
  /** Still held at the long-press threshold; fires once per press, before the release. */
  'long-press': [heldMs: number];
  /**
   * `stuck` true: the pin has read "pressed" ever since start(), for stuckAfterMs. false: it has
   * been released since (fires only after a true).
   */
  stuck: [stuck: boolean];
};

export const DEFAULT_DEBOUNCE_MS = 30;
export const DEFAULT_LONG_PRESS_MS = 1500;
export const DEFAULT_STUCK_AFTER_MS = 2000;

/**
 * A push button on an input port: debounced, glitch-proof, with short and long presses.
 *
 * Edges only say "something happened": each one (re)starts a quiet-period timer, and when the pin
 * has been quiet for the debounce time the button *reads the pin* and compares it with its state.
 * So contact bounce collapses into one change, and a spike shorter than the debounce time never
 * registers, even when the kernel reports only one of its two edges.
 *
 * A pin that reads "pressed" from the start and stays so is almost never a person holding the
 * button: the pin has the wrong pull (nothing holds it at the released level) or the wrong
 * polarity. After stuckAfterMs the button says so (`stuck`), and takes it back once released.
 */
export class Button extends EventEmitter<ButtonEvents> {
  readonly name: string;
  private readonly debounceMs: number;
  private readonly longPressMs: number;
  private readonly stuckAfterMs: number;
  private readonly pressedLevel: Level;
  private isDown = false;
  private isStuck = false;
  /** When the current press was confirmed; null when up, or down since before start(). */
  private pressedAt: number | null = null;
  private longPressReported = false;
  private settleTimer: TimerHandle | null = null;
  private longPressTimer: TimerHandle | null = null;
  private stuckTimer: TimerHandle | null = null;
  private running = false;
  private watching = false;

  constructor(
    private readonly port: InputPort,
    private readonly clock: Clock,
    options: ButtonOptions,
  ) {
    super();
    this.name = options.name;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.longPressMs = options.longPressMs ?? DEFAULT_LONG_PRESS_MS;
    this.stuckAfterMs = options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS;
    this.pressedLevel = (options.activeLow ?? true) ? 0 : 1;
  }

  /** Whether the button is down, as far as debouncing has confirmed. */
  get pressed(): boolean {
    return this.isDown;
  }

  /** Whether the pin has read "pressed" ever since start(), for at least stuckAfterMs. */
  get stuck(): boolean {
    return this.isStuck;
  }

  /**
   * Takes the pin's present level as the starting state without reporting it: a button held
   * while the service starts (or a stuck one) is not a press.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.isDown = this.port.read() === this.pressedLevel;
    this.pressedAt = null;
    this.isStuck = false;
    if (this.isDown) {
      this.stuckTimer = this.clock.setTimeout(() => {
        this.stuckTimer = null;
        this.isStuck = true;
        this.emit('stuck', true);
      }, this.stuckAfterMs);
    }
    if (!this.watching) this.port.watch(() => this.onEdge());
    this.watching = true;
  }

  stop(): void {
    this.running = false;
    this.clearTimers();
  }

  private onEdge(): void {
    if (!this.running) return;
    if (this.settleTimer) this.clock.clearTimeout(this.settleTimer);
    this.settleTimer = this.clock.setTimeout(() => this.settle(), this.debounceMs);
  }

  private settle(): void {
    this.settleTimer = null;
    if (!this.running) return;
    const down = this.port.read() === this.pressedLevel;
    if (down === this.isDown) return;
    this.isDown = down;
    if (down) this.onPress();
    else this.onRelease();
  }

  private onPress(): void {
    this.pressedAt = this.clock.now();
    this.longPressReported = false;
    this.longPressTimer = this.clock.setTimeout(() => {
      this.longPressTimer = null;
      this.longPressReported = true;
      this.emit('long-press', this.heldMs());
    }, this.longPressMs);
    this.emit('press');
  }

  private onRelease(): void {
    if (this.longPressTimer) this.clock.clearTimeout(this.longPressTimer);
    this.longPressTimer = null;
    if (this.stuckTimer) this.clock.clearTimeout(this.stuckTimer);
    this.stuckTimer = null;
    // Cleared before the release is told, so whoever reads `stuck` on 'release' sees it gone.
    const wasStuck = this.isStuck;
    this.isStuck = false;
    const seenPress = this.pressedAt !== null;
    const held = this.heldMs();
    this.pressedAt = null;
    this.emit('release', held);
    if (seenPress && !this.longPressReported) this.emit('short-press', held);
    if (wasStuck) this.emit('stuck', false);
  }

  private heldMs(): number {
    return this.pressedAt === null ? 0 : this.clock.now() - this.pressedAt;
  }

  private clearTimers(): void {
    if (this.settleTimer) this.clock.clearTimeout(this.settleTimer);
    if (this.longPressTimer) this.clock.clearTimeout(this.longPressTimer);
    if (this.stuckTimer) this.clock.clearTimeout(this.stuckTimer);
    this.settleTimer = null;
    this.longPressTimer = null;
    this.stuckTimer = null;
  }
}
