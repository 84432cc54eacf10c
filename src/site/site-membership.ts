import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import type { Logger } from '../logging/logger.js';
import type { Clock } from '../system/clock.js';
import type { PeerDirectory } from '../peers/peer-directory.js';
import { generateSiteSecret, siteSecretProblem, storeSiteSecret, type SiteSecret } from '../security/site-secret.js';
import { SiteInvitations, type ConfirmOutcome, type InvitationPolicy, type InvitationView, type StartOutcome } from '../security/site-invitations.js';
import { JoinerExchange, type JoinConfirm, type JoinStart } from '../security/site-join-exchange.js';
import { peerBaseUrl } from '../peers/peer-client.js';

/**
 * Which site this unit belongs to, and changing it: handing out one-time codes (the inviter's side
 * of the join exchange), joining another unit's site by its code, and leaving. Holds the unit's
 * current site secret; every change is stored atomically in `<dataDir>/site-secret` first, then
 * handed to `applySecret` (the request signer and verifier and the call key exchange switch at
 * once, no restart). A secret from the config (site.secret) cannot be changed here.
 */

export const JOIN_API_PREFIX = '/api/join';
export const DEFAULT_HTTP_PORT = 5000;

export const JoinAnswerSchema = Type.Object(
  {
    unitId: Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }),
    name: Type.String({ minLength: 1, maxLength: 64 }),
    share: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    sealed: Type.String({ minLength: 16, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$' }),
  },
  { additionalProperties: false },
);

export class SiteChangeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SiteMembershipOptions {
  secret: SiteSecret;
  dataDir: string;
  unit: { unitId: string; name: string };
  httpPort: () => number;
  directory: PeerDirectory;
  clock: Clock;
  logger: Logger;
  /** Called after a new secret was stored: the unit signs and checks with it from now on. */
  applySecret: (secret: string) => void;
  invitationPolicy?: Partial<InvitationPolicy>;
  /** How long the joiner waits for the inviter's answers (default 10 s). */
  requestTimeoutMs?: number;
}

export interface SiteView {
  secretSource: SiteSecret['source'];
  /** Units of the site this unit knows. */
  units: number;
  /** Why this unit cannot join another site now, or null when it can. */
  joinRefusal: string | null;
  invitation: InvitationView | null;
}

export class SiteMembership {
  private secret: SiteSecret;
  private readonly invitations: SiteInvitations;
  private joining = false;

  constructor(private readonly options: SiteMembershipOptions) {
    this.secret = options.secret;
    this.invitations = new SiteInvitations(options.invitationPolicy);
  }

  currentSecret(): string {
    return this.secret.secret;
  }

  source(): SiteSecret['source'] {
    return this.secret.source;
  }

  view(): SiteView {
    return {
      secretSource: this.secret.source,
      units: this.options.directory.peers().length,
      joinRefusal: this.joinRefusal(),
      invitation: this.invitations.view(this.options.clock.now()),
    };
  }

  /** What a unit that does not share our secret may know: who this is, and whether it is in a site with others. */
  hello(): { unitId: string; name: string; inSite: boolean } {
    return { unitId: this.options.unit.unitId, name: this.options.unit.name, inSite: this.options.directory.peers().length > 0 };
  }

  /** A new one-time code for a unit to join this unit's site. */
  invite(): InvitationView {
    const view = this.invitations.create(this.options.clock.now());
    this.options.logger.info({ validForMs: view.expiresAt - this.options.clock.now() }, 'a join code was handed out');
    return view;
  }

  cancelInvitation(): void {
    this.invitations.cancel();
  }

  /** The inviter's side: a joiner's first message (from `address`). */
  answerStart(start: JoinStart, address: string): StartOutcome {
    const outcome = this.invitations.start(start, address, this.options.unit, this.secret.secret, this.options.clock.now());
    if (!outcome.ok) this.options.logger.warn({ address, joiner: start.name, error: outcome.error }, 'a join attempt was refused');
    return outcome;
  }

  /** The inviter's side: the joiner proves it had the code; it becomes a candidate of the directory. */
  answerConfirm(confirm: JoinConfirm): ConfirmOutcome {
    const outcome = this.invitations.confirm(confirm, this.options.clock.now());
    if (outcome.ok) {
      const { joiner } = outcome;
      this.options.logger.info({ unitId: joiner.unitId, name: joiner.name, address: joiner.address }, 'a unit joined the site with a code');
      this.options.directory.addCandidate({ host: bareAddress(joiner.address), port: joiner.httpPort, source: 'inbound' });
      void this.options.directory.refresh();
    } else {
      this.options.logger.warn({ error: outcome.error }, 'a join confirmation was refused');
    }
    return outcome;
  }

  private joinRefusal(): string | null {
    if (this.secret.source === 'config') {
      return 'this unit\'s site secret is set in its configuration (site.secret); change it there, or remove it to join by code';
    }
    const units = this.options.directory.peers().length;
    if (units > 0) return `this unit is part of a site with ${units} other unit${units === 1 ? '' : 's'}; leave it first`;
    return null;
  }

  /**
   * Joins the site of the unit at `host` ("name", "address" or either with ":port") with the code
   * it shows: runs the exchange, stores the site secret, and uses it at once. Without `host`, the
   * units found on the LAN that do not trust this one are asked in turn (those without an open
   * code answer so without a try being spent).
   */
  async join(code: string, host?: string): Promise<{ unitId: string; name: string; address: string }> {
    const refusal = this.joinRefusal();
    if (refusal) throw new SiteChangeError(409, this.secret.source === 'config' ? 'secret-from-config' : 'in-a-site', refusal);
    if (!/^[0-9]{6}$/.test(code)) throw new SiteChangeError(400, 'bad-request', 'the code is 6 digits');
    let targets: Array<{ host: string; port: number }>;
    if (host !== undefined) {
      const target = parseHost(host);
      if (!target) throw new SiteChangeError(400, 'bad-request', `"${host}" is not a host name or address (with an optional :port)`);
      targets = [target];
    } else {
      targets = this.options.directory
        .untrusted()
        .filter((entry) => entry.reason === 'another-site' || entry.reason === 'not-in-a-site')
        .map((entry) => ({ host: entry.host, port: entry.port }));
      if (targets.length === 0) {
        throw new SiteChangeError(409, 'no-invitation', 'no unit of another site was found on the LAN; give the address of the unit that shows the code');
      }
    }
    if (this.joining) throw new SiteChangeError(409, 'busy', 'this unit is already joining a site');
    this.joining = true;
    try {
      let last: SiteChangeError | null = null;
      for (const target of targets) {
        try {
          return await this.joinAt(code, target);
        } catch (error) {
          if (!(error instanceof SiteChangeError) || host !== undefined || (error.code !== 'no-invitation' && error.code !== 'unreachable')) throw error;
          last = error;
        }
      }
      throw new SiteChangeError(409, 'no-invitation', `none of the ${targets.length} units found on the LAN has a join code open (${last?.message ?? ''}); give the address of the unit that shows the code`);
    } finally {
      this.joining = false;
    }
  }

  private async joinAt(code: string, target: { host: string; port: number }): Promise<{ unitId: string; name: string; address: string }> {
    const baseUrl = peerBaseUrl(target.host, target.port);
    const exchange = new JoinerExchange(code, { unitId: this.options.unit.unitId, name: this.options.unit.name, httpPort: this.options.httpPort() });
    const started = await this.post(`${baseUrl}${JOIN_API_PREFIX}/start`, exchange.start);
    if (started.status !== 200) throw inviterRefusal(started);
    if (!Value.Check(JoinAnswerSchema, started.body)) throw new SiteChangeError(502, 'bad-answer', `${target.host}:${target.port} did not answer like a unit`);
    const answer = started.body as Static<typeof JoinAnswerSchema>;
    if (answer.unitId === this.options.unit.unitId) throw new SiteChangeError(409, 'same-unit', 'that is this unit itself');
    const result = exchange.finish(answer);
    if (!result) throw new SiteChangeError(403, 'wrong-code', `the code does not match the one ${answer.name} shows (each wrong try uses up one of its 3)`);
    if (siteSecretProblem(result.secret)) throw new SiteChangeError(502, 'bad-answer', 'the inviting unit sent an unusable site secret');
    const confirmed = await this.post(`${baseUrl}${JOIN_API_PREFIX}/confirm`, result.confirm);
    if (confirmed.status !== 200) throw inviterRefusal(confirmed);
    await this.replaceSecret(result.secret, 'joined');
    this.options.directory.addCandidate({ host: target.host, port: target.port, source: 'static' });
    await this.options.directory.refresh();
    this.options.logger.info({ inviter: answer.unitId, name: answer.name }, 'this unit joined a site with a code');
    return { unitId: answer.unitId, name: answer.name, address: `${target.host}:${target.port}` };
  }

  /** Leaves the site: a new secret of this unit's own (the others no longer accept it, nor it them). */
  async leave(): Promise<void> {
    if (this.secret.source === 'config') {
      throw new SiteChangeError(409, 'secret-from-config', 'this unit\'s site secret is set in its configuration (site.secret); remove it there to leave');
    }
    await this.replaceSecret(generateSiteSecret(), 'left');
    this.options.directory.forgetPeers();
    this.options.logger.info('this unit left its site and made a new secret of its own');
  }

  private async replaceSecret(secret: string, why: 'joined' | 'left'): Promise<void> {
    const file = await storeSiteSecret(this.options.dataDir, secret);
    this.secret = { secret, source: 'file', file };
    this.options.applySecret(secret);
    this.invitations.cancel();
    this.options.logger.info({ file, why }, 'site secret replaced');
  }

  private async post(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000),
        redirect: 'error',
      });
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
      return { status: response.status, body: parsed };
    } catch (error) {
      throw new SiteChangeError(502, 'unreachable', `cannot reach ${url.replace(/^http:\/\//, '').split('/')[0]}: ${(error as Error).message}`);
    }
  }
}

function inviterRefusal(answer: { status: number; body: unknown }): SiteChangeError {
  const body = (answer.body ?? {}) as { error?: unknown; message?: unknown };
  const error = typeof body.error === 'string' ? body.error : 'refused';
  const message = typeof body.message === 'string' ? body.message : `the inviting unit answered ${answer.status}`;
  const status = answer.status === 404 || answer.status === 410 || answer.status === 429 || answer.status === 403 ? (answer.status === 404 ? 409 : answer.status) : 502;
  return new SiteChangeError(status, error, `the inviting unit refused: ${message}`);
}

function bareAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** "host", "host:port", "[v6]" or "[v6]:port"; null when it is none of these. */
export function parseHost(text: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!match) return null;
  const port = match[3] === undefined ? DEFAULT_HTTP_PORT : Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1] ?? match[2]!, port };
}
