/** What the replay cache says about a nonce it is asked to admit. */
export type ReplayVerdict = 'fresh' | 'replayed' | 'cache-full';

export interface ReplayCacheOptions {
  /** A nonce is remembered until its request's timestamp is this far in the past (the accepted skew). */
  retainMs: number;
  /** Most nonces remembered at once; memory stays bounded whatever arrives. */
  maxEntries: number;
}

/**
 * Remembers the nonces of accepted requests for as long as their timestamps would still pass the
 * freshness check, so a captured request cannot be sent again.
 *
 * When full, the oldest nonce is forgotten, and from then on every request stamped at or before
 * that nonce's timestamp is refused ("cache-full"): a forgotten nonce can then never be replayed,
 * and under heavy but honest load only requests that arrive late are refused. Only requests with
 * a valid signature are admitted, so a stranger cannot fill the cache.
 */
export class ReplayCache {
  /** nonce -> timestamp of its request; insertion order is roughly timestamp order. */
  private readonly seen = new Map<string, number>();
  /** Requests stamped at or before this may have had their nonce forgotten. */
  private forgottenUpTo = -Infinity;

  constructor(private readonly options: ReplayCacheOptions) {}

  get size(): number {
    return this.seen.size;
  }

  /** Records `nonce` (of a request stamped `timestamp`) unless it was already seen; `now` is wall-clock ms. */
  admit(nonce: string, timestamp: number, now: number): ReplayVerdict {
    this.forgetExpired(now);
    if (this.seen.has(nonce)) return 'replayed';
    if (timestamp <= this.forgottenUpTo) return 'cache-full';
    if (this.seen.size >= this.options.maxEntries) this.forgetOldest();
    this.seen.set(nonce, timestamp);
    return 'fresh';
  }

  private forgetExpired(now: number): void {
    for (const [nonce, timestamp] of this.seen) {
      if (timestamp + this.options.retainMs >= now) break;
      this.seen.delete(nonce);
    }
  }

  private forgetOldest(): void {
    const oldest = this.seen.entries().next();
    if (oldest.done) return;
    const [nonce, timestamp] = oldest.value;
    this.seen.delete(nonce);
    this.forgottenUpTo = Math.max(this.forgottenUpTo, timestamp);
  }
}
