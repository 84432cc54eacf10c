/**
 * Calls `onTick` once per frame period without accumulating drift: each deadline is computed
 * from the start time, not from the previous timer, so late timers are caught up on.
 * Used where no sound card paces the audio (tone and WAV sources, WAV output).
 */
export interface FrameClock {
  stop(): void;
}

export interface Timebase {
  now(): number;
  setTimeout(callback: () => void, ms: number): { unref?(): void } | unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimebase: Timebase = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export function startFrameClock(periodMs: number, onTick: (tickIndex: number, nowMs: number) => void, timebase: Timebase = systemTimebase): FrameClock {
  const startedAt = timebase.now();
  let ticks = 0;
  let stopped = false;
  let handle: unknown;
  const schedule = () => {
    if (stopped) return;
    const now = timebase.now();
    // Catch up on every deadline already passed (a stalled event loop must not slow the stream down).
    while (!stopped && startedAt + ticks * periodMs <= now) {
      onTick(ticks, now);
      ticks += 1;
    }
    const wait = Math.max(0, startedAt + ticks * periodMs - timebase.now());
    handle = timebase.setTimeout(schedule, wait);
  };
  schedule();
  return {
    stop() {
      stopped = true;
      timebase.clearTimeout(handle);
    },
  };
}
