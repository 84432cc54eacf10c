import type { Clock } from '../system/clock.js';
import type { Logger } from '../logging/logger.js';
import { PanelPasswordFile, verifyPanelPassword, type PanelPasswordState } from './people-password.js';
import { PeopleSessions, secretsEqual, type PeopleSession, type SessionPolicy } from './people-sessions.js';
import { LoginLimiter, type LoginLimiterPolicy } from './people-login-limiter.js';

/**
 * People's access to the panel and the public API: logging in with the panel password, the
 * sessions that follow, and the check every request to a closed route goes through. The HTTP side
 * (cookies, routes, status codes) is in src/signaling/session-routes.ts.
 */

export const SESSION_COOKIE = 'intercom_session';
export const CSRF_HEADER = 'x-csrf-token';

/** Logins waiting for their password check beyond this are refused at once (429, retry in 1 s). */
const MAX_WAITING_LOGINS = 16;

/** Methods that change nothing; every other one needs the CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type LoginResult =
  | { kind: 'ok'; session: PeopleSession }
  | { kind: 'wrong-password' }
  | { kind: 'no-password'; reason: string }
  | { kind: 'rate-limited'; retryAfterMs: number };

export type AccessDecision =
  | { kind: 'ok'; session: PeopleSession }
  | { kind: 'unauthenticated'; reason: string }
  | { kind: 'csrf'; reason: string };

export interface PeopleAccessCounters {
  passwordSet: boolean;
  sessions: number;
  loginsSucceeded: number;
  loginsFailed: number;
  loginsRateLimited: number;
}

export interface PeopleAccessOptions {
  dataDir: string;
  clock: Clock;
  logger?: Logger;
  sessions?: Partial<SessionPolicy>;
  limiter?: Partial<LoginLimiterPolicy>;
}

export class PeopleAccess {
  readonly password: PanelPasswordFile;
  private readonly clock: Clock;
  private readonly logger?: Logger;
  private readonly sessions: PeopleSessions;
  private readonly limiter: LoginLimiter;
  private readonly counts = { loginsSucceeded: 0, loginsFailed: 0, loginsRateLimited: 0 };
  private lastPasswordSet = false;
  private loginQueue: Promise<void> = Promise.resolve();
  private loginsWaiting = 0;
  private lastUnusableReason: string | null = null;

  constructor(options: PeopleAccessOptions) {
    this.password = new PanelPasswordFile(options.dataDir);
    this.clock = options.clock;
    this.logger = options.logger;
    this.sessions = new PeopleSessions(options.sessions);
    this.limiter = new LoginLimiter(options.limiter);
  }

  private async passwordState(): Promise<PanelPasswordState> {
    const state = await this.password.current();
    this.lastPasswordSet = state.kind === 'set';
    if (state.kind === 'unusable' && state.reason !== this.lastUnusableReason) this.logger?.error({ file: this.password.file }, `panel password unusable: ${state.reason}`);
    this.lastUnusableReason = state.kind === 'unusable' ? state.reason : null;
    return state;
  }

  /** Whether a password is set, and the session `sessionId` names if it is live. */
  async describe(sessionId: string | undefined): Promise<{ passwordSet: boolean; session: PeopleSession | null }> {
    const state = await this.passwordState();
    const salt = state.kind === 'set' ? state.record.salt : null;
    return { passwordSet: state.kind === 'set', session: salt === null ? null : this.sessions.use(sessionId, this.clock.now(), salt) };
  }

  async login(address: string, password: string): Promise<LoginResult> {
    // One password check at a time, each seeing the failures before it: parallel guesses from one
    // address cannot slip past the limiter, and a flood of logins cannot take every scrypt-sized
    // block of memory (32 MiB each) or the thread pool the rest of the service needs.
    if (this.loginsWaiting >= MAX_WAITING_LOGINS) {
      this.counts.loginsRateLimited += 1;
      return { kind: 'rate-limited', retryAfterMs: 1000 };
    }
    this.loginsWaiting += 1;
    const turn = this.loginQueue.then(() => this.checkLogin(address, password));
    this.loginQueue = turn.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await turn;
    } finally {
      this.loginsWaiting -= 1;
    }
  }

  private async checkLogin(address: string, password: string): Promise<LoginResult> {
    const waitMs = this.limiter.waitMs(address, this.clock.now());
    if (waitMs > 0) {
      this.counts.loginsRateLimited += 1;
      return { kind: 'rate-limited', retryAfterMs: waitMs };
    }
    const state = await this.passwordState();
    if (state.kind === 'unset') return { kind: 'no-password', reason: 'no panel password is set on this unit' };
    if (state.kind === 'unusable') return { kind: 'no-password', reason: 'the panel password file of this unit is unusable; set the password again' };
    if (await verifyPanelPassword(state.record, password)) {
      this.limiter.recordSuccess(address);
      this.counts.loginsSucceeded += 1;
      this.logger?.info({ address }, 'panel login');
      return { kind: 'ok', session: this.sessions.open(this.clock.now(), state.record.salt) };
    }
    this.limiter.recordFailure(address, this.clock.now());
    this.counts.loginsFailed += 1;
    this.logger?.warn({ address }, 'panel login with a wrong password');
    return { kind: 'wrong-password' };
  }

  logout(sessionId: string | undefined): boolean {
    return this.sessions.close(sessionId);
  }

  /** May a request with this session cookie and CSRF header use a closed route with this method? */
  async authorize(sessionId: string | undefined, method: string, csrfHeader: string | string[] | undefined): Promise<AccessDecision> {
    const { session } = await this.describe(sessionId);
    if (!session) {
      return { kind: 'unauthenticated', reason: sessionId ? 'the session has ended; log in again' : 'log in first (POST /api/session)' };
    }
    if (!SAFE_METHODS.has(method.toUpperCase())) {
      if (typeof csrfHeader !== 'string' || csrfHeader === '') return { kind: 'csrf', reason: `the ${CSRF_HEADER} header is missing (it is the csrfToken the login answered)` };
      if (!secretsEqual(csrfHeader, session.csrfToken)) return { kind: 'csrf', reason: `the ${CSRF_HEADER} header does not belong to this session` };
    }
    return { kind: 'ok', session };
  }

  counters(): PeopleAccessCounters {
    return { passwordSet: this.lastPasswordSet, sessions: this.sessions.size, ...this.counts };
  }
}
