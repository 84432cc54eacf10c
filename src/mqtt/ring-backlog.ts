/** One ring event kept while the broker was out of reach, with the clock time it happened. */
export interface Kept<T> {
  item: T;
  at: number;
}

/**
 * Ring events that happened while the unit could not reach the broker. After reconnecting, those
 * younger than `maxAgeMs` are sent, oldest first; older ones are dropped (a doorbell from minutes
 * ago would notify someone of a visitor who has left). At most `capacity` are kept.
 */
export class RingBacklog<T> {
  private readonly kept: Kept<T>[] = [];
  private droppedCount = 0;

  constructor(
    readonly maxAgeMs = 60_000,
    readonly capacity = 100,
  ) {}

  get size(): number {
    return this.kept.length;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  /** Keeps an event (in time order: one sent but unacknowledged when the connection broke goes back where it was). */
  add(item: T, at: number): void {
    let index = this.kept.length;
    while (index > 0 && this.kept[index - 1].at > at) index--;
    this.kept.splice(index, 0, { item, at });
    while (this.kept.length > this.capacity) {
      this.kept.shift();
      this.droppedCount++;
    }
  }

  /** Everything still worth sending at `now`, oldest first; the rest is counted as dropped. */
  take(now: number): { send: Kept<T>[]; dropped: number } {
    const all = this.kept.splice(0);
    const send = all.filter((kept) => now - kept.at <= this.maxAgeMs);
    const dropped = all.length - send.length;
    this.droppedCount += dropped;
    return { send, dropped };
  }
}
