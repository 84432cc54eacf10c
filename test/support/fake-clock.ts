import type { Clock, TimerHandle } from '../../src/system/clock.js';

interface FakeTimer {
  id: number;
  due: number;
  every: number | null;
  callback: () => void;
}

/** A clock that only moves when a test says so; timers fire in due order during advance(). */
export class FakeClock implements Clock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.add(callback, ms, null);
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete((handle as { id: number }).id);
  }

  setInterval(callback: () => void, ms: number): TimerHandle {
    return this.add(callback, ms, ms);
  }

  clearInterval(handle: TimerHandle): void {
    this.clearTimeout(handle);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, and lets promises settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const next = this.earliestDue(end);
      if (!next) break;
      this.time = next.due;
      if (next.every === null) this.timers.delete(next.id);
      else next.due += next.every;
      next.callback();
      await settle();
    }
    this.time = end;
    await settle();
  }

  /**
   * A process that got no CPU for `ms` (a starved machine): time jumps on with nothing run, then
   * every timer that fell due meanwhile runs at once, late, in due order (an interval once).
   */
  async stall(ms: number): Promise<void> {
    this.time += ms;
    for (;;) {
      const next = this.earliestDue(this.time);
      if (!next) break;
      if (next.every === null) this.timers.delete(next.id);
      else next.due = Math.max(next.due + next.every, this.time + 1);
      next.callback();
      await settle();
    }
    await settle();
  }

  /** The timer due first at or before `limit` (the first set, among those due together). */
  private earliestDue(limit: number): FakeTimer | undefined {
    return [...this.timers.values()].filter((timer) => timer.due <= limit).sort((a, b) => a.due - b.due || a.id - b.id)[0];
  }

  private add(callback: () => void, ms: number, every: number | null): TimerHandle {
    const timer: FakeTimer = { id: this.nextId++, due: this.time + Math.max(0, ms), every: every === null ? null : Math.max(1, every), callback };
    this.timers.set(timer.id, timer);
    return { id: timer.id };
  }
}

/** Lets pending promise callbacks and immediates run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}
