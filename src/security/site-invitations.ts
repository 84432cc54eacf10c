import { newJoinCode, InviterExchange, type JoinAnswer, type JoinConfirm, type JoinIdentity, type JoinStart } from './site-join-exchange.js';

/**
 * The one-time codes this unit hands out, and the runs of the join exchange against them. Pure:
 * the caller passes the time. One code is live at a time (a new one replaces it); it dies when it
 * expires, when it is used, and after `maxTries` starts that were not confirmed, from whatever
 * addresses they came (so guessing from many addresses gets 3 guesses in 10^6 per code). Each
 * address may start at most `maxStartsPerMinute` runs (a flood cannot burn the CPU on curve maths).
 */

export interface InvitationPolicy {
  validForMs: number;
  maxTries: number;
  maxStartsPerMinute: number;
}

export const DEFAULT_INVITATION_POLICY: InvitationPolicy = { validForMs: 5 * 60_000, maxTries: 3, maxStartsPerMinute: 10 };

export interface InvitationView {
  code: string;
  expiresAt: number;
  triesLeft: number;
}

export type StartOutcome =
  | { ok: true; answer: JoinAnswer }
  | { ok: false; status: 404 | 410 | 400 | 429; error: string; message: string; retryAfterS?: number };

export type ConfirmOutcome =
  | { ok: true; joiner: JoinStart & { address: string } }
  | { ok: false; status: 403 | 404 | 410; error: string; message: string };

interface Invitation {
  code: string;
  expiresAt: number;
  tries: number;
  used: boolean;
  runs: Map<string, { exchange: InviterExchange; start: JoinStart; address: string }>;
}

export class SiteInvitations {
  readonly policy: InvitationPolicy;
  private invitation: Invitation | null = null;
  private readonly startsByAddress = new Map<string, number[]>();

  constructor(policy: Partial<InvitationPolicy> = {}) {
    this.policy = { ...DEFAULT_INVITATION_POLICY, ...policy };
  }

  /** A new code (the previous one dies). */
  create(now: number): InvitationView {
    this.invitation = { code: newJoinCode(), expiresAt: now + this.policy.validForMs, tries: 0, used: false, runs: new Map() };
    return this.view(now)!;
  }

  cancel(): void {
    this.invitation = null;
  }

  /** The live code, or null. */
  view(now: number): InvitationView | null {
    const live = this.live(now);
    return live ? { code: live.code, expiresAt: live.expiresAt, triesLeft: this.policy.maxTries - live.tries } : null;
  }

  private live(now: number): Invitation | null {
    const invitation = this.invitation;
    if (!invitation || invitation.used || now >= invitation.expiresAt || invitation.tries >= this.policy.maxTries) return null;
    return invitation;
  }

  private deadReason(now: number): { status: 404 | 410; error: string; message: string } {
    const invitation = this.invitation;
    if (!invitation) return { status: 404, error: 'no-invitation', message: 'this unit has no join code open; ask for one on a unit of the site (panel or "intercom site invite")' };
    if (invitation.used) return { status: 410, error: 'code-used', message: 'this unit\'s join code was used; ask for a new one' };
    if (now >= invitation.expiresAt) return { status: 410, error: 'code-expired', message: 'this unit\'s join code expired; ask for a new one' };
    return { status: 410, error: 'code-dead', message: `this unit's join code died after ${this.policy.maxTries} tries that did not match; ask for a new one` };
  }

  /** A joiner starts a run from `address`: one try at the code. */
  start(start: JoinStart, address: string, inviter: JoinIdentity, siteSecret: string, now: number): StartOutcome {
    const recent = (this.startsByAddress.get(address) ?? []).filter((at) => now - at < 60_000);
    if (recent.length >= this.policy.maxStartsPerMinute) {
      return { ok: false, status: 429, error: 'rate-limited', message: 'too many join attempts from this address; wait a minute', retryAfterS: 60 };
    }
    recent.push(now);
    this.startsByAddress.set(address, recent);
    if (this.startsByAddress.size > 1024) this.startsByAddress.delete(this.startsByAddress.keys().next().value as string);

    const invitation = this.live(now);
    if (!invitation) return { ok: false, ...this.deadReason(now) };
    if (invitation.runs.has(start.sid)) return { ok: false, status: 400, error: 'bad-request', message: 'this session id was used already' };
    // Counted before the answer: every answer lets its receiver test one code.
    invitation.tries += 1;
    const exchange = InviterExchange.answer(invitation.code, start, inviter, siteSecret);
    if (!exchange) return { ok: false, status: 400, error: 'bad-request', message: 'share is not a valid ristretto255 element' };
    invitation.runs.set(start.sid, { exchange, start, address });
    return { ok: true, answer: exchange.answer };
  }

  /** The joiner proves it had the code: the code is spent, and the joiner is returned. */
  confirm(confirm: JoinConfirm, now: number): ConfirmOutcome {
    const invitation = this.invitation;
    const run = invitation?.runs.get(confirm.sid);
    if (!invitation || !run) return { ok: false, status: 404, error: 'unknown-session', message: 'no join run with this session id' };
    if (invitation.used || now >= invitation.expiresAt) return { ok: false, ...this.deadReason(now) } as ConfirmOutcome;
    if (!run.exchange.confirms(confirm)) {
      invitation.runs.delete(confirm.sid);
      return { ok: false, status: 403, error: 'wrong-code', message: 'the confirmation does not match this unit\'s code' };
    }
    invitation.used = true;
    invitation.runs.clear();
    return { ok: true, joiner: { ...run.start, address: run.address } };
  }
}
