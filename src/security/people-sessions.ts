import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Logged-in people: a session per successful login, kept in memory (a restart logs everybody out,
 * which is also the way to end every session at once). Pure apart from randomness; time comes from
 * the caller, so expiry is tested without waiting.
 *
 * The session id travels only in an HttpOnly cookie; the CSRF token is handed to the page at login
 * and must come back in the x-csrf-token header of every state-changing request.
 */

export interface SessionPolicy {
  /** A session unused this long ends (default 12 h). */
  idleMs: number;
  /** A session ends this long after login even when used all the time (default 7 days). */
  absoluteMs: number;
  /** The oldest sessions are dropped beyond this many (default 64: a household, not a crowd). */
  maxSessions: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMs: 12 * 3600_000, absoluteMs: 7 * 24 * 3600_000, maxSessions: 64 };

export interface PeopleSession {
  /** The cookie value. */
  readonly id: string;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeenAt: number;
  /** Salt of the password it was opened with: a new password ends the session. */
  readonly passwordSalt: string;
}

function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares two secrets in time independent of where they differ (hashing first makes the lengths equal). */
export function secretsEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB);
}

export class PeopleSessions {
  // Keyed by a hash of the id, so the map's own lookup does not compare secrets byte by byte.
  private readonly sessions = new Map<string, PeopleSession>();
  readonly policy: SessionPolicy;

  constructor(policy: Partial<SessionPolicy> = {}) {
    this.policy = { ...DEFAULT_SESSION_POLICY, ...policy };
  }

  private static key(id: string): string {
    return createHash('sha256').update(id).digest('base64');
  }

  open(now: number, passwordSalt: string): PeopleSession {
    this.prune(now);
    while (this.sessions.size >= this.policy.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const session: PeopleSession = { id: randomToken(), csrfToken: randomToken(), createdAt: now, lastSeenAt: now, passwordSalt };
    this.sessions.set(PeopleSessions.key(session.id), session);
    return session;
  }

  /** The live session with this id (its idle timer restarted), or null when unknown, expired or opened with another password. */
  use(id: string | undefined, now: number, passwordSalt: string | null): PeopleSession | null {
    if (!id || id.length > 128) return null;
    const key = PeopleSessions.key(id);
    const session = this.sessions.get(key);
    if (!session) return null;
    if (this.expired(session, now) || session.passwordSalt !== passwordSalt) {
      this.sessions.delete(key);
      return null;
    }
    session.lastSeenAt = now;
    return session;
  }

  close(id: string | undefined): boolean {
    if (!id) return false;
    return this.sessions.delete(PeopleSessions.key(id));
  }

  get size(): number {
    return this.sessions.size;
  }

  private expired(session: PeopleSession, now: number): boolean {
    return now - session.lastSeenAt >= this.policy.idleMs || now - session.createdAt >= this.policy.absoluteMs;
  }

  private prune(now: number): void {
    for (const [key, session] of this.sessions) if (this.expired(session, now)) this.sessions.delete(key);
  }
}
