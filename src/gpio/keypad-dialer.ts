import type { Logger } from '../logging/logger.js';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { CallControl } from './call-buttons.js';
import type { FeedbackPattern } from './indicator-led.js';
import type { KeypadKey } from './matrix-keypad.js';
import type { TargetCaller } from './target-caller.js';

export const DEFAULT_ENTRY_TIMEOUT_MS = 8000;

export interface KeypadDialerOptions {
  /** gpio.keypad.directory: number -> user or group. */
  directory: Readonly<Record<string, string>>;
  caller: Pick<TargetCaller, 'call'>;
  calls: Pick<CallControl, 'state' | 'hangUp'>;
  feedback: { flash(pattern: FeedbackPattern): void };
  clock: Clock;
  logger: Logger;
  /** A half-typed number is cleared after this long without a key. */
  entryTimeoutMs?: number;
}

/**
 * What a visitor types on the keypad: digits make a number, `#` calls whom the directory gives for
 * it, `*` clears (and cancels our call while it rings). A number that is not in the directory, or
 * longer than any in it, is refused; a half-typed number is cleared after entryTimeoutMs. Every key
 * blinks the LED once; clearing blinks it twice, refusing three times (see indicator-led.ts).
 * While a call rings here or is active, the keys do nothing (the resident hangs up, or the visitor
 * with the CALL/ANSWER buttons).
 */
export class KeypadDialer {
  private entry = '';
  private entryTimer: TimerHandle | null = null;
  private readonly longestNumber: number;
  private readonly entryTimeoutMs: number;

  constructor(private readonly options: KeypadDialerOptions) {
    this.longestNumber = Math.max(0, ...Object.keys(options.directory).map((number) => number.length));
    this.entryTimeoutMs = options.entryTimeoutMs ?? DEFAULT_ENTRY_TIMEOUT_MS;
  }

  /** How many digits are typed so far. */
  get typedDigits(): number {
    return this.entry.length;
  }

  press(key: KeypadKey): void {
    const { calls, logger, feedback } = this.options;
    const state = calls.state();
    if (state === 'ringing-out' && key === '*') {
      logger.info({ key, callState: state }, 'keypad *: cancelling the call that rings');
      feedback.flash('cleared');
      calls.hangUp().catch((error: unknown) => logger.warn({ err: error }, `keypad *: could not cancel the call: ${(error as Error)?.message}`));
      return;
    }
    if (state !== 'idle') {
      logger.info({ key, callState: state }, `keypad ${key} ignored while the unit is ${state}`);
      return;
    }
    if (key === '*') return this.clear('cleared with *');
    if (key === '#') return this.dial();
    if (this.entry.length >= this.longestNumber) {
      const typed = this.entry + key;
      this.reset();
      logger.info({ typed }, `keypad: ${typed} is longer than any number in gpio.keypad.directory; cleared`);
      feedback.flash('refused');
      return;
    }
    this.entry += key;
    logger.debug({ key, typedDigits: this.entry.length }, `keypad ${key}`);
    feedback.flash('key');
    this.restartEntryTimer();
  }

  stop(): void {
    this.reset();
  }

  private dial(): void {
    const { directory, caller, logger, feedback } = this.options;
    const number = this.entry;
    this.reset();
    if (!number) {
      logger.info('keypad #: no number typed; type a number, then #');
      feedback.flash('refused');
      return;
    }
    const target = Object.hasOwn(directory, number) ? directory[number] : undefined;
    if (target === undefined) {
      logger.info({ number }, `keypad: no number ${number} in gpio.keypad.directory; nothing called`);
      feedback.flash('refused');
      return;
    }
    void caller.call(target, `keypad ${number}`);
  }

  private clear(why: string): void {
    const typed = this.entry;
    this.reset();
    this.options.logger.info({ typed }, typed ? `keypad: ${typed} ${why}` : `keypad: nothing typed to clear (${why})`);
    this.options.feedback.flash('cleared');
  }

  private restartEntryTimer(): void {
    const { clock } = this.options;
    if (this.entryTimer) clock.clearTimeout(this.entryTimer);
    this.entryTimer = clock.setTimeout(() => {
      this.entryTimer = null;
      this.clear(`cleared after ${Math.round(this.entryTimeoutMs / 1000)} s without a key`);
    }, this.entryTimeoutMs);
  }

  private reset(): void {
    this.entry = '';
    if (this.entryTimer) this.options.clock.clearTimeout(this.entryTimer);
    this.entryTimer = null;
  }
}
