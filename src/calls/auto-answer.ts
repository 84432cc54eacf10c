import type { CallSnapshot } from './call-service.js';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { Logger } from '../logging/logger.js';

/**
 * Auto-answer (calls.autoAnswer), for a door station that a flat calls to speak to the visitor: a
 * call ringing here is answered after `delayMs` by itself, never silently: it rings as any call
 * does (LED blinking), the auto-answer tone plays just before the line opens, and the LED is lit
 * for the call. Every offer that rings here came from a unit of the site (offers are signed with
 * the site secret), and do-not-disturb answers offers busy before they ring; switched on while a
 * call rings, it stops the auto-answer too.
 */

export interface AutoAnswerCalls {
  on(event: 'call', listener: (call: CallSnapshot) => void): unknown;
  off(event: 'call', listener: (call: CallSnapshot) => void): unknown;
  accept(callId: string): Promise<CallSnapshot>;
}

export interface AutoAnswerOptions {
  calls: AutoAnswerCalls;
  /** How long a call rings before it is answered (calls.autoAnswer.delayMs). */
  delayMs: number;
  /** Plays the auto-answer tone on the unit's speaker (CallSounds.announceAutoAnswer). */
  announce: (callId: string) => void;
  /** How long the tone lasts: it starts this long before the answer. */
  toneMs: number;
  /** True while do-not-disturb is on. */
  doNotDisturb: () => boolean;
  clock: Clock;
  logger: Logger;
}

interface Pending {
  toneTimer: TimerHandle;
  answerTimer: TimerHandle;
}

export class AutoAnswer {
  private readonly pending = new Map<string, Pending>();
  private readonly onCall = (call: CallSnapshot) => this.handle(call);
  private attached = false;

  constructor(private readonly options: AutoAnswerOptions) {}

  start(): void {
    if (this.attached) return;
    this.attached = true;
    this.options.calls.on('call', this.onCall);
  }

  stop(): void {
    if (!this.attached) return;
    this.attached = false;
    this.options.calls.off('call', this.onCall);
    for (const callId of [...this.pending.keys()]) this.cancel(callId);
  }

  /** Calls waiting to be answered (for tests and the log). */
  get waiting(): string[] {
    return [...this.pending.keys()];
  }

  private handle(call: CallSnapshot): void {
    const { clock, delayMs, toneMs, logger } = this.options;
    if (call.phase !== 'ringing' || call.direction !== 'incoming') {
      this.cancel(call.id);
      return;
    }
    if (this.pending.has(call.id)) return;
    if (this.options.doNotDisturb()) return;
    const toneAt = Math.max(0, delayMs - toneMs);
    const pending: Pending = {
      toneTimer: clock.setTimeout(() => {
        if (this.options.doNotDisturb()) {
          logger.info({ callId: call.id }, 'auto-answer withdrawn: do-not-disturb was switched on while the call rang');
          this.cancel(call.id);
          return;
        }
        logger.info({ callId: call.id }, `auto-answer tone: the line opens in ${delayMs - toneAt} ms`);
        this.options.announce(call.id);
      }, toneAt),
      answerTimer: clock.setTimeout(() => {
        this.pending.delete(call.id);
        if (this.options.doNotDisturb()) return;
        logger.info({ callId: call.id, caller: call.caller, delayMs }, `auto-answer: answering the call from ${call.caller.user} at unit ${call.caller.unitName}`);
        this.options.calls.accept(call.id).catch((error: unknown) => logger.warn({ err: error, callId: call.id }, 'auto-answer failed'));
      }, delayMs),
    };
    this.pending.set(call.id, pending);
    logger.info({ callId: call.id, delayMs }, `auto-answer in ${delayMs} ms`);
  }

  private cancel(callId: string): void {
    const pending = this.pending.get(callId);
    if (!pending) return;
    this.options.clock.clearTimeout(pending.toneTimer);
    this.options.clock.clearTimeout(pending.answerTimer);
    this.pending.delete(callId);
  }
}
