import type { Logger } from '../logging/logger.js';
import type { CallControl } from './call-buttons.js';
import type { CallTargetResolver } from './call-targets.js';
import type { FeedbackPattern } from './indicator-led.js';

export interface TargetCallerOptions {
  calls: Pick<CallControl, 'state' | 'initiate'>;
  resolveTarget: CallTargetResolver;
  feedback: { flash(pattern: FeedbackPattern): void };
  logger: Logger;
}

export type TargetCallOutcome = 'calling' | 'busy-here' | 'unknown-target' | 'failed';

/**
 * Places a call from the door panel (a flat's button, a number typed on the keypad) to a name from
 * the configuration: resolves it (call-targets.ts), rings it, and tells the visitor by the LED when
 * nothing rings (three quick flashes), and the log why. Never throws.
 */
export class TargetCaller {
  constructor(private readonly options: TargetCallerOptions) {}

  /** `via` says what asked, for the log ("button gpio.buttons.0 (BCM 17)", "keypad 101"). */
  async call(target: string, via: string): Promise<TargetCallOutcome> {
    const { calls, resolveTarget, feedback, logger } = this.options;
    const state = calls.state();
    if (state !== 'idle') {
      logger.info({ via, target, callState: state }, `${via}: not calling ${target}: this unit is ${state} already`);
      return 'busy-here';
    }
    const resolved = resolveTarget(target);
    if (!resolved.ok) {
      logger.warn({ via, target, reason: resolved.reason }, `${via}: cannot call ${target}: ${resolved.reason}`);
      feedback.flash('refused');
      return 'unknown-target';
    }
    logger.info({ via, target: resolved.name, kind: resolved.kind }, `${via}: calling ${resolved.kind} ${resolved.name}`);
    try {
      const result = (await calls.initiate(resolved.name)) as { phase?: string; endReason?: string | null } | undefined;
      // A call that ended at once (busy, unreachable) rang nothing: the visitor should know.
      if (result?.phase === 'ended') {
        logger.info({ via, target: resolved.name, endReason: result.endReason }, `${via}: the call to ${resolved.name} ended at once (${result.endReason})`);
        feedback.flash('refused');
        return 'failed';
      }
      return 'calling';
    } catch (error) {
      logger.warn({ via, target: resolved.name, err: error }, `${via}: could not call ${resolved.name}: ${(error as Error)?.message ?? String(error)}`);
      feedback.flash('refused');
      return 'failed';
    }
  }
}
