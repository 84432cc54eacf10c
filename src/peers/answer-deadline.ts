import type { Clock, TimerHandle } from '../system/clock.js';

/**
 * How late (as a share of the wait) a deadline's timer may fire before the wait is taken as one
 * this process slept through rather than one it measured.
 */
const STARVED_SHARE = 0.5;
/** How many more waits a starved process grants before its verdict stands (a gone unit's verdict comes at most this many waits later). */
const MAX_STARVED_RENEWALS = 2;

/** A pending deadline; cancel() when the answer came. */
export interface AnswerDeadline {
  cancel(): void;
}

/**
 * The wait for another unit's answer, judged on what this process could see. Two things go wrong on
 * a machine so busy that this process gets no CPU for a while (50 units on two cores), and each
 * declared live units silent:
 * - the deadline's timer and the answer that came in time are both waiting when the process runs
 *   again, and Node runs a turn's timers before its I/O: so the verdict waits one more turn;
 * - the timer fires far past its time: the process slept through the wait, and the other unit,
 *   on the same starved machine, had little more of it to answer in. The wait then starts again
 *   (at most MAX_STARVED_RENEWALS times), so a starved machine delays a verdict instead of making one up.
 * `expired` runs once, unless cancelled first.
 */
export function startAnswerDeadline(clock: Clock, waitMs: number, expired: () => void): AnswerDeadline {
  let timer: TimerHandle | null = null;
  let cancelled = false;
  let renewals = 0;
  const arm = () => {
    const dueAt = clock.now() + waitMs;
    timer = clock.setTimeout(() => {
      if (cancelled) return;
      const lateMs = clock.now() - dueAt;
      if (lateMs > waitMs * STARVED_SHARE && renewals < MAX_STARVED_RENEWALS) {
        renewals += 1;
        arm();
        return;
      }
      timer = clock.setTimeout(() => {
        if (!cancelled) expired();
      }, 0);
    }, waitMs);
  };
  arm();
  return {
    cancel() {
      cancelled = true;
      if (timer) clock.clearTimeout(timer);
    },
  };
}
