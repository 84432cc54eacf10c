import Type, { type Static } from 'typebox';
import { matchesSchema } from '../system/schema-check.js';
import type { Logger } from '../logging/logger.js';
import type { Clock } from '../system/clock.js';
import type { PeerDirectory } from '../peers/peer-directory.js';
import { generateSiteSecret, siteSecretProblem, storeReplacedConfigSecret, storeSiteSecret, type SiteSecret } from '../security/site-secret.js';
import { newRotationId, RotationKeyShare, type RotationKeys, type RotationTranscript } from '../security/secret-rotation.js';
import type { PeerResult, PeerTarget } from '../peers/peer-client.js';
import type { RotationCommit, RotationCommitAnswer, RotationOffer, RotationOfferAnswer } from '../peers/peer-protocol.js';
import type { RejoinEntry, RejoinList } from './rejoin-list.js';
import { SiteInvitations, type ConfirmOutcome, type InvitationPolicy, type InvitationView, type StartOutcome } from '../security/site-invitations.js';
import { JoinerExchange, type JoinConfirm, type JoinStart } from '../security/site-join-exchange.js';
import { loadCpace } from '../security/cpace.js';
import { peerBaseUrl } from '../peers/peer-client.js';
import { httpRequest } from '../net/http-request.js';

/**
 * Which site this unit belongs to, and changing it: handing out one-time codes (the inviter's side
 * of the join exchange), joining another unit's site by its code, leaving, and removing another
 * unit (the site's secret is rotated and handed to the units that stay, see secret-rotation.ts).
 * Holds the unit's current site secret; every change is stored atomically first (in
 * `<dataDir>/site-secret`, or `<dataDir>/site-secret-replaced` when the unit's secret came from
 * site.secret: it wins until that value changes), then handed to `applySecret` (the request signer
 * and verifier and the call key exchange switch at once, no restart).
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
  /** Called after a new secret was stored: the unit signs and checks with it from now on. `refreshNow`: ask every address again at once. */
  applySecret: (secret: string, refreshNow: boolean) => void;
  /** site.secret from the config, or null: a change made here is stored as its replacement. */
  configuredSecret?: string | null;
  /** The unit-to-unit requests of a rotation (PeerClient). */
  rotationClient?: {
    rotationOffer(target: PeerTarget, offer: RotationOffer): Promise<PeerResult<RotationOfferAnswer>>;
    rotationCommit(target: PeerTarget, commit: RotationCommit): Promise<PeerResult<RotationCommitAnswer>>;
  };
  /** Units left behind by a rotation (persisted); absent: not remembered. */
  rejoinList?: RejoinList;
  /** Wall-clock ms for the rejoin list (default Date.now). */
  wallClock?: () => number;
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
  /** Units of the site that were offline when its secret was rotated: they must join again with a code. */
  needsRejoining: RejoinEntry[];
}

/** The outcome of removing a unit: who has the new secret, who must join again. */
export interface RemovalOutcome {
  removed: { unitId: string; name: string };
  rotated: Array<{ unitId: string; name: string }>;
  needsRejoining: Array<{ unitId: string; name: string; problem: string }>;
}

/** A handover this unit answered (step 1) and awaits the sealed secret for (step 2). */
interface PendingRotation {
  from: string;
  keys: RotationKeys;
  at: number;
}

/** How long a handover's step 2 may follow its step 1. */
const ROTATION_PENDING_MS = 30_000;
const MAX_PENDING_ROTATIONS = 8;

export class SiteMembership {
  private secret: SiteSecret;
  private readonly invitations: SiteInvitations;
  private joining = false;
  private removing = false;
  private readonly pendingRotations = new Map<string, PendingRotation>();

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
      needsRejoining: this.options.rejoinList?.list() ?? [],
    };
  }

  /**
   * What a unit that does not share our secret may know: who this is, and whether it is in a site
   * with others. `asker`: the unit id the asking unit gives; it is told when it was left behind by a rotation of this site's secret.
   */
  hello(asker?: string): { unitId: string; name: string; inSite: boolean; leftBehind: boolean } {
    return {
      unitId: this.options.unit.unitId,
      name: this.options.unit.name,
      inSite: this.options.directory.peers().length > 0,
      leftBehind: asker !== undefined && (this.options.rejoinList?.has(asker) ?? false),
    };
  }

  /** A new one-time code for a unit to join this unit's site (and CPace loaded for the joiner's messages). */
  async invite(): Promise<InvitationView> {
    await loadCpace();
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
    // Left behind by a rotation (units of its site refuse it now): what remains of its old site is
    // stale, so it may join again with a code without leaving first.
    if (this.options.directory.formerPeers().length > 0) return null;
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
    if (refusal) throw new SiteChangeError(409, 'in-a-site', refusal);
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
    await loadCpace();
    const exchange = new JoinerExchange(code, { unitId: this.options.unit.unitId, name: this.options.unit.name, httpPort: this.options.httpPort() });
    const started = await this.post(`${baseUrl}${JOIN_API_PREFIX}/start`, exchange.start);
    if (started.status !== 200) throw inviterRefusal(started);
    if (!matchesSchema(JoinAnswerSchema, started.body)) throw new SiteChangeError(502, 'bad-answer', `${target.host}:${target.port} did not answer like a unit`);
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
    await this.replaceSecret(generateSiteSecret(), 'left');
    this.options.directory.forgetPeers();
    await this.options.rejoinList?.clear();
    this.options.logger.info('this unit left its site and made a new secret of its own');
  }

  /**
   * Removes `unitId` from the site: a new secret is made and handed, sealed per unit under an
   * ephemeral key exchange, to every other unit of the site this unit knows; then this unit switches
   * to it. Units that cannot be reached keep the old secret: they are listed as needing to join again
   * (here and on the units that got the new secret). The removed unit is told nothing: every unit
   * that has the new secret refuses it from then on.
   */
  async remove(unitId: string): Promise<RemovalOutcome> {
    if (unitId === this.options.unit.unitId) throw new SiteChangeError(409, 'this-unit', 'a unit cannot remove itself; leave the site instead');
    const target = this.options.directory.peer(unitId);
    if (!target) throw new SiteChangeError(404, 'unknown-unit', `no unit ${unitId} is in this unit's site`);
    const client = this.options.rotationClient;
    if (!client) throw new SiteChangeError(503, 'unavailable', 'this unit cannot rotate its site\'s secret');
    if (this.removing || this.joining) throw new SiteChangeError(409, 'busy', 'this unit is already changing its site');
    this.removing = true;
    try {
      const removed = { unitId, name: target.name };
      const oldSecret = this.secret.secret;
      const newSecret = generateSiteSecret();
      const rotationId = newRotationId();
      const others = this.options.directory.peers().filter((peer) => peer.unitId !== unitId);
      const needsRejoining: RemovalOutcome['needsRejoining'] = [];
      const selfId = this.options.unit.unitId;
      // Step 1, all at once: a fresh key share to each unit that stays, its own back.
      const reached = await Promise.all(
        others.map(async (peer) => {
          const baseUrl = this.options.directory.baseUrlOf(peer.unitId);
          if (!baseUrl) {
            needsRejoining.push({ unitId: peer.unitId, name: peer.name, problem: 'its address is not known' });
            return null;
          }
          const share = new RotationKeyShare();
          const answer = await client.rotationOffer({ baseUrl, unitId: peer.unitId }, { rotationId, keyShare: share.publicValue, removed });
          if (answer.kind !== 'ok' || answer.value.rotationId !== rotationId) {
            needsRejoining.push({ unitId: peer.unitId, name: peer.name, problem: problemOf(answer) });
            return null;
          }
          const transcript: RotationTranscript = { rotationId, rotatorUnitId: selfId, receiverUnitId: peer.unitId, rotatorKeyShare: share.publicValue, receiverKeyShare: answer.value.keyShare };
          try {
            return { peer, baseUrl, keys: share.agree(answer.value.keyShare, oldSecret, transcript) };
          } catch (error) {
            needsRejoining.push({ unitId: peer.unitId, name: peer.name, problem: (error as Error).message });
            return null;
          }
        }),
      );
      const leftBehind = () => needsRejoining.map(({ unitId: id, name }) => ({ unitId: id, name }));
      const unreachedInStep1 = leftBehind();
      // Step 2: the sealed secret, and the list of units left behind so far.
      const rotated: RemovalOutcome['rotated'] = [];
      await Promise.all(
        reached.map(async (entry) => {
          if (!entry) return;
          const { peer, baseUrl, keys } = entry;
          const answer = await client.rotationCommit(
            { baseUrl, unitId: peer.unitId },
            { rotationId, sealed: keys.seal(newSecret), removed, needsRejoining: unreachedInStep1 },
          );
          if (answer.kind === 'ok' && answer.value.rotationId === rotationId && keys.confirms(newSecret, answer.value.confirmation)) {
            rotated.push({ unitId: peer.unitId, name: peer.name });
          } else {
            needsRejoining.push({ unitId: peer.unitId, name: peer.name, problem: answer.kind === 'ok' ? 'it did not prove it received the new secret' : problemOf(answer) });
          }
        }),
      );
      await this.replaceSecret(newSecret, 'rotated', true);
      this.options.directory.forgetPeer(unitId);
      for (const unit of needsRejoining) this.options.directory.forgetPeer(unit.unitId);
      await this.options.rejoinList?.drop([unitId]);
      await this.options.rejoinList?.add(leftBehind(), this.now());
      this.options.logger.info(
        { removed, rotated: rotated.map((unit) => unit.unitId), needsRejoining },
        'a unit was removed from the site: its secret was rotated',
      );
      return { removed, rotated, needsRejoining };
    } finally {
      this.removing = false;
    }
  }

  /** A unit of the site rotates its secret (step 1): this unit's fresh key share for the handover. */
  answerRotationOffer(offer: RotationOffer, from: string): { ok: true; answer: RotationOfferAnswer } | { ok: false; status: 400 | 409 | 429; error: string; message: string } {
    if (offer.removed.unitId === this.options.unit.unitId) {
      return { ok: false, status: 409, error: 'removed', message: 'this unit is the one being removed' };
    }
    if (offer.removed.unitId === from) return { ok: false, status: 409, error: 'bad-request', message: 'a unit cannot remove itself' };
    // Two rotations at once would split the site between two new secrets: the second one waits.
    if (this.removing) return { ok: false, status: 409, error: 'busy', message: 'this unit is removing a unit itself; try again when it has finished' };
    const now = this.options.clock.now();
    for (const [id, pending] of this.pendingRotations) if (now - pending.at > ROTATION_PENDING_MS) this.pendingRotations.delete(id);
    if (this.pendingRotations.has(offer.rotationId)) return { ok: false, status: 409, error: 'bad-request', message: 'this rotation id is in use' };
    if (this.pendingRotations.size >= MAX_PENDING_ROTATIONS) return { ok: false, status: 429, error: 'busy', message: 'too many rotations under way' };
    const share = new RotationKeyShare();
    const transcript: RotationTranscript = {
      rotationId: offer.rotationId,
      rotatorUnitId: from,
      receiverUnitId: this.options.unit.unitId,
      rotatorKeyShare: offer.keyShare,
      receiverKeyShare: share.publicValue,
    };
    let keys: RotationKeys;
    try {
      keys = share.agree(offer.keyShare, this.secret.secret, transcript);
    } catch (error) {
      return { ok: false, status: 400, error: 'bad-request', message: (error as Error).message };
    }
    this.pendingRotations.set(offer.rotationId, { from, keys, at: now });
    return { ok: true, answer: { rotationId: offer.rotationId, keyShare: share.publicValue } };
  }

  /** Step 2: the new secret, sealed for this unit. Stored and used at once; the answer proves it was opened. */
  async answerRotationCommit(
    commit: RotationCommit,
    from: string,
  ): Promise<{ ok: true; answer: RotationCommitAnswer } | { ok: false; status: 400 | 404; error: string; message: string }> {
    const pending = this.pendingRotations.get(commit.rotationId);
    if (!pending || pending.from !== from || this.options.clock.now() - pending.at > ROTATION_PENDING_MS) {
      return { ok: false, status: 404, error: 'unknown-rotation', message: 'no rotation with this id was started by this unit (or it expired)' };
    }
    this.pendingRotations.delete(commit.rotationId);
    let secret: string;
    try {
      secret = pending.keys.open(commit.sealed);
    } catch (error) {
      return { ok: false, status: 400, error: 'bad-request', message: (error as Error).message };
    }
    const problem = siteSecretProblem(secret);
    if (problem) return { ok: false, status: 400, error: 'bad-request', message: `the new secret ${problem}` };
    // Not at once: the rotating unit switches after its last handover, the regular poll finds it then.
    await this.replaceSecret(secret, 'rotated', false);
    const selfId = this.options.unit.unitId;
    const leftBehind = commit.needsRejoining.filter((unit) => unit.unitId !== selfId && unit.unitId !== from && unit.unitId !== commit.removed.unitId);
    this.options.directory.forgetPeer(commit.removed.unitId);
    for (const unit of leftBehind) this.options.directory.forgetPeer(unit.unitId);
    await this.options.rejoinList?.drop([commit.removed.unitId, from]);
    await this.options.rejoinList?.add(leftBehind, this.now());
    this.options.logger.info({ by: from, removed: commit.removed, needsRejoining: leftBehind }, 'the site\'s secret was rotated by another unit (a unit was removed)');
    return { ok: true, answer: { rotationId: commit.rotationId, confirmation: pending.keys.confirmation(secret) } };
  }

  private now(): number {
    return (this.options.wallClock ?? Date.now)();
  }

  private async replaceSecret(secret: string, why: 'joined' | 'left' | 'rotated', refreshNow = true): Promise<void> {
    const configured = this.options.configuredSecret ?? null;
    if (configured !== null) {
      const file = await storeReplacedConfigSecret(this.options.dataDir, configured, secret);
      this.secret = { secret, source: 'config-replaced', file };
    } else {
      const file = await storeSiteSecret(this.options.dataDir, secret);
      this.secret = { secret, source: 'file', file };
    }
    this.options.applySecret(secret, refreshNow);
    this.invitations.cancel();
    if (why !== 'rotated') await this.options.rejoinList?.clear();
    this.options.logger.info({ file: this.secret.file, why }, 'site secret replaced');
  }

  private async post(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
    try {
      const response = await httpRequest(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        timeoutMs: this.options.requestTimeoutMs ?? 10_000,
      });
      const text = response.text;
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

function problemOf(result: PeerResult<unknown>): string {
  if (result.kind === 'ok') return 'it answered for another rotation';
  return result.kind === 'refused' ? `it refused: ${result.status} ${result.error} ${result.message}`.trim() : `unreachable: ${result.message}`;
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
