/**
 * Slows down password guessing: per client address, a few failed logins are free, then the address
 * must wait before it may try again, twice as long after each further failure (capped). A successful
 * login clears the address's record. Pure: the caller passes the time.
 */

export interface LoginLimiterPolicy {
  /** Failed logins allowed before the address must wait (default 5). */
  freeFailures: number;
  /** The first wait (default 60 s); it doubles with every further failure. */
  baseLockoutMs: number;
  /** The longest wait (default 15 min). */
  maxLockoutMs: number;
  /** A record without failures for this long is forgotten (default 1 h). */
  forgetAfterMs: number;
  /** Addresses remembered at most (default 4096); beyond, the oldest are forgotten. */
  maxAddresses: number;
}

export const DEFAULT_LOGIN_LIMITER_POLICY: LoginLimiterPolicy = {
  freeFailures: 5,
  baseLockoutMs: 60_000,
  maxLockoutMs: 15 * 60_000,
  forgetAfterMs: 3600_000,
  maxAddresses: 4096,
};

interface AddressRecord {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export class LoginLimiter {
  private readonly records = new Map<string, AddressRecord>();
  readonly policy: LoginLimiterPolicy;

  constructor(policy: Partial<LoginLimiterPolicy> = {}) {
    this.policy = { ...DEFAULT_LOGIN_LIMITER_POLICY, ...policy };
  }

  /** 0 when `address` may try now, else how many ms it must wait. */
  waitMs(address: string, now: number): number {
    const record = this.records.get(address);
    if (!record) return 0;
    if (now - record.lastFailureAt >= this.policy.forgetAfterMs) {
      this.records.delete(address);
      return 0;
    }
    return Math.max(0, record.blockedUntil - now);
  }

  recordFailure(address: string, now: number): void {
    const known = this.records.get(address);
    const record = known && now - known.lastFailureAt < this.policy.forgetAfterMs ? known : { failures: 0, lastFailureAt: now, blockedUntil: 0 };
    record.failures += 1;
    record.lastFailureAt = now;
    const beyond = record.failures - this.policy.freeFailures;
    if (beyond >= 0) record.blockedUntil = now + Math.min(this.policy.maxLockoutMs, this.policy.baseLockoutMs * 2 ** Math.min(beyond, 30));
    // Re-insert so the map's order is least recently failed first.
    this.records.delete(address);
    this.records.set(address, record);
    while (this.records.size > this.policy.maxAddresses) this.records.delete(this.records.keys().next().value as string);
  }

  recordSuccess(address: string): void {
    this.records.delete(address);
  }
}
