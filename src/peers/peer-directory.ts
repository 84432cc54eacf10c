import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { Logger } from '../logging/logger.js';
import { peerBaseUrl, type PeerResult } from './peer-client.js';
import type { UnitInfo } from './peer-protocol.js';
import { userKey } from '../users/user-store.js';

/**
 * An address where a unit may be answering: from DNS-SD, the static `peers` list, or a unit that
 * called this one (`inbound`, kept only once that unit answered there itself).
 */
export interface PeerCandidate {
  host: string;
  port: number;
  /** 'inbound': the unit spoke to this one (a call, a push, a join); 'site': another unit of the site named it (comparing views). */
  source: 'dns-sd' | 'static' | 'inbound' | 'site';
}

/** Sources that only name an address others found: DNS-SD or the config naming it too is the better answer to "how was it found". */
const HEARSAY_SOURCES: ReadonlySet<PeerCandidate['source']> = new Set(['inbound', 'site']);

/** Another unit of the site as this unit knows it. */
export interface PeerView {
  unitId: string;
  name: string;
  version: string;
  /** "host:port" this unit talks to it at: changed only by the unit's own signed answer there. */
  address: string;
  online: boolean;
  inCall: boolean;
  users: string[];
  source: PeerCandidate['source'];
  /** Milliseconds since it last answered (null when never). */
  msSinceSeen: number | null;
  /** How far its wall clock is ahead of this unit's (ms, learnt from its signed answers), or null when not known. */
  clockOffsetMs: number | null;
}

/** Where a user of the site lives. */
export interface DirectoryEntry {
  name: string;
  unitId: string;
  unitName: string;
  local: boolean;
  online: boolean;
}

interface CandidateState extends PeerCandidate {
  polling: boolean;
  /** The unit answering here is this unit itself (seen via its own DNS-SD record or a static entry). */
  isSelf: boolean;
  /** The unit that answered the last poll here (the next poll is addressed to it), or null. */
  answeredBy: string | null;
  /** Why the last poll here failed (logged when it changes), or null after an answer. */
  problem: string | null;
  /** The kind of that failure, for the panel. */
  refusal?: UntrustedReason | null;
  /** When the unit refusing us here was last asked whether it is alone, and its answer. */
  helloAt?: number;
  alone?: boolean;
  /** The unit of this site that answered here before and now refuses our secret (its site's secret was rotated). */
  formerPeer?: { unitId: string; name: string } | null;
}

/** Why an address found on the LAN is not a unit of this site. */
export type UntrustedReason = 'another-site' | 'not-in-a-site' | 'former-peer' | 'another-version' | 'not-a-unit' | 'unreachable';

/** An address found on the LAN where no unit of this site answers. */
export interface UntrustedView {
  /** "host:port" (for people). */
  address: string;
  host: string;
  port: number;
  source: PeerCandidate['source'];
  reason: UntrustedReason;
  message: string;
}

interface PeerState {
  info: UnitInfo;
  /** Host and port of `address`. */
  host: string;
  port: number;
  address: string;
  baseUrl: string;
  source: PeerCandidate['source'];
  online: boolean;
  lastSeenAt: number;
  /** When the unit last answered at `address` itself (its signed HTTP answer, or its ack to a probe sent there). */
  addressSeenAt: number;
  /** Its info is being fetched again (its version moved). */
  refetching?: boolean;
  /** It acked a probe this unit sent to its probe address: failed probes then mean it is gone (SWIM). */
  probeAcked?: boolean;
  /** Rounds of probes it failed while its signed HTTP answered, before it ever acked one. */
  probeMisses?: number;
  /** Its probe address does not answer from here though its HTTP does: it is polled over HTTP instead. */
  unprobeable?: boolean;
  /** Its HTTP is being asked whether it is there after its probes failed. */
  httpCheck?: Promise<ProbeFailureOutcome>;
}

/**
 * What failed probes of a unit led to (PeerDirectory.probeFailed); 'former-peer': its HTTP refused
 * this unit's secret (the site's secret was rotated without this unit), and it left the directory.
 */
export type ProbeFailureOutcome = 'offline' | 'former-peer' | 'not-probeable' | 'answers-http' | 'unknown';

/** Whose probes found a unit not answering (PeerDirectory.probeFailed). */
export type ProbeFinding = 'watch' | 'hearsay' | 'greeting';

export interface PeerDirectoryOptions {
  selfUnitId: string;
  selfName: string;
  /** Polls a unit's info; `unitId` is the unit expected at that address (null: whoever answers). The answer names who answered. */
  client: {
    info(baseUrl: string, unitId: string | null): Promise<PeerResult<UnitInfo>>;
    /** Asks a unit that refused us whether it is in a site of its own (for the untrusted list); absent: not asked. */
    hello?(baseUrl: string): Promise<{ unitId: string; name: string; inSite: boolean; leftBehind?: boolean } | null>;
  };
  /** Each peer's clock offset as learnt from its signed answers (for the peer list); absent: unknown. */
  clockOffsetOf?: (unitId: string) => number | null;
  /** This unit's own users, for the site-wide directory. */
  localUsers: () => string[];
  clock: Clock;
  /**
   * How often an address is asked for its info over HTTP when no online unit of the site is known
   * to answer there (an untrusted address, an offline unit's), and every unit that is not probed.
   */
  pollIntervalMs: number;
  /** A peer that is not probed and has not answered for this long is shown offline; and an address unused this long may move. */
  offlineAfterMs: number;
  /**
   * Liveness of units with a probe port comes from a PresenceProber (noteAlive, markOffline,
   * markOnline), and their info from pushes and version changes: they are not polled. Absent or
   * false: every unit is polled (a unit without a probe socket is polled in any case).
   */
  probed?: () => boolean;
  logger?: Logger;
}

export type PeerDirectoryEvents = { changed: [peers: PeerView[]] };

/**
 * The site's directory: which units exist, whether they are online, and which users each hosts.
 * A unit's info (name, users, in-call) is fetched, signed, when its address is first found; after
 * that it changes when the unit pushes a change (receivePush) or when a probe shows that its info
 * version moved (noteAlive: a missed push). Whether it is online comes from the presence prober
 * (src/peers/presence-prober.ts). Only addresses where no online unit of the site answers are
 * polled, every `pollIntervalMs` (and units without a probe port, as before probing existed).
 *
 * Where a unit is reached (its address) is only ever what that unit itself said: an answer counts
 * when its signature proves the unit answered there (a unit accepts only requests sent to its own
 * names and addresses, so a host that relays its traffic cannot answer for it). A unit answering at
 * a second address does not move it while the first one still answers; it moves once the first has
 * been silent for `offlineAfterMs` (a new DHCP lease, say).
 */
export class PeerDirectory extends EventEmitter<PeerDirectoryEvents> {
  private readonly candidates = new Map<string, CandidateState>();
  private readonly peersById = new Map<string, PeerState>();
  private timer: TimerHandle | null = null;
  private lastPublished = '[]';

  constructor(private readonly options: PeerDirectoryOptions) {
    super();
  }

  start(): void {
    if (this.timer) return;
    this.timer = this.options.clock.setInterval(() => void this.tick(), this.options.pollIntervalMs);
    void this.tick();
  }

  stop(): void {
    if (this.timer) this.options.clock.clearInterval(this.timer);
    this.timer = null;
  }

  addCandidate(candidate: PeerCandidate): void {
    const key = `${candidate.host}|${candidate.port}`;
    const existing = this.candidates.get(key);
    // A static entry stays static even when DNS-SD also reports it. A unit announced again (it
    // restarted) is asked at once unless it is known online.
    if (existing) {
      // An address first heard of from the unit itself (a call, a push) that DNS-SD or the config names too is theirs.
      if (HEARSAY_SOURCES.has(existing.source) && !HEARSAY_SOURCES.has(candidate.source)) this.upgradeSource(existing, candidate.source);
      const peer = existing.answeredBy === null ? undefined : this.peersById.get(existing.answeredBy);
      if (this.timer && !existing.isSelf && (!peer || !peer.online || !this.isProbed(peer))) void this.poll(key);
      return;
    }
    this.candidates.set(key, { ...candidate, polling: false, isSelf: false, answeredBy: null, problem: null });
    if (this.timer) void this.poll(key);
  }

  private upgradeSource(candidate: CandidateState, source: PeerCandidate['source']): void {
    candidate.source = source;
    for (const peer of this.peersById.values()) {
      if (peer.host === bareHost(candidate.host) && peer.port === candidate.port && HEARSAY_SOURCES.has(peer.source)) peer.source = source;
    }
    this.publish();
  }

    removeCandidate(candidate: Pick<PeerCandidate, 'host' | 'port'>): void {
    this.candidates.delete(`${candidate.host}|${candidate.port}`);
  }

  /**
   * The probe answered for `unitId` (its ack, or its own ping) with its info version: it is online,
   * at the address it was probed at; a version other than the one known means a change this unit
   * missed, so the info is fetched again.
   */
  noteAlive(unitId: string, version: string, acked = false): void {
    const peer = this.peersById.get(unitId);
    if (!peer) return;
    const now = this.options.clock.now();
    if (acked) {
      if (peer.unprobeable) this.options.logger?.info({ unitId, name: peer.info.name, probeAddress: `${peer.host}:${peer.info.probePort}` }, 'peer answers probes now: its liveness is probed again, no longer polled');
      peer.probeAcked = true;
      peer.unprobeable = false;
      peer.probeMisses = 0;
    }
    peer.lastSeenAt = now;
    peer.addressSeenAt = now;
    if (!peer.online) {
      peer.online = true;
      this.options.logger?.info({ unitId, name: peer.info.name }, 'peer online again');
      this.publish();
    }
    if (peer.info.stateVersion !== version) void this.refetch(peer);
  }

  /** The prober, or the unit itself, says `unitId` is gone. */
  markOffline(unitId: string, why: string): void {
    const peer = this.peersById.get(unitId);
    if (!peer || !peer.online) return;
    peer.online = false;
    this.options.logger?.warn({ unitId, name: peer.info.name, why }, 'peer offline');
    this.publish();
  }

  /**
   * The prober's probes of `unitId` went unanswered, directly and through others. Its HTTP is asked
   * once, signed, as any poll (so a refusal is taken as a poll's is), where this unit's own probes
   * found it so (`finding`):
   * - 'watch' (the ring's watch found it): a unit that acked before and now fails is gone (SWIM)
   *   unless its HTTP says otherwise: no answer takes it offline; a refusal of this unit's secret
   *   makes it a former peer (the site's secret was rotated without this unit: it was removed), so
   *   that people see why rather than an offline unit; a signed answer keeps it online, its probe
   *   address in doubt again (as one that never acked). One request per unit that vanished: the
   *   other units take the watch's word, checked with their own probes only.
   * - 'hearsay' (another unit found it gone; this unit's probes agree): one that acked is offline
   *   at once, without HTTP (the watch asked it already).
   * - 'greeting' (probed since it was found, never acked): as below, but one whose HTTP fails too is
   *   left to the watch of its predecessor in the ring rather than taken offline here.
   * A unit that never acked may be there all the same with only its probe address out of reach (a
   * NAT or firewall that passes its HTTP port only, a port forward in the static `peers`): if its
   * HTTP answers, signed, it stays online, and after PROBE_MISSES_BEFORE_POLLING such rounds it is
   * polled over HTTP instead of probed (said once in the log). Its failures are no evidence for
   * other units then ('offline' only is).
   */
  probeFailed(unitId: string, why: string, finding: ProbeFinding = 'watch'): Promise<ProbeFailureOutcome> {
    const peer = this.peersById.get(unitId);
    if (!peer || !peer.online) return Promise.resolve('unknown');
    if (peer.unprobeable) return Promise.resolve('not-probeable');
    // A greeting's probes failing while the unit acked someone else's (the watch's) tell nothing.
    if (peer.probeAcked && finding === 'greeting') return Promise.resolve('unknown');
    if (!this.isProbed(peer) || (peer.probeAcked && finding === 'hearsay')) {
      this.markOffline(unitId, why);
      return Promise.resolve('offline');
    }
    // Acked before, failed now: its probe address is in doubt until it acks again (an ack during the check restores it).
    const wasConfirmed = peer.probeAcked === true;
    peer.probeAcked = false;
    peer.httpCheck ??= this.checkOverHttp(peer, why, finding, wasConfirmed).finally(() => {
      peer.httpCheck = undefined;
    });
    return peer.httpCheck;
  }

  private async checkOverHttp(peer: PeerState, why: string, finding: ProbeFinding, wasConfirmed: boolean): Promise<ProbeFailureOutcome> {
    const unitId = peer.info.unitId;
    const key = `${peer.host}|${peer.port}`;
    const existing = this.candidates.get(key);
    if (!existing) this.candidates.set(key, { host: peer.host, port: peer.port, source: peer.source, polling: false, isSelf: false, answeredBy: unitId, problem: null });
    // Asked as this unit (not as a stranger), so that a refusal of our secret there is known to be its.
    else if (existing.answeredBy === null && !existing.isSelf) existing.answeredBy = unitId;
    // As any poll, so that a refusal (a rotated secret, another unit there) is taken as it would be there.
    await this.poll(key, true);
    const candidate = this.candidates.get(key);
    if (this.peersById.get(unitId) !== peer) return candidate?.refusal === 'former-peer' ? 'former-peer' : 'unknown';
    // Silence there says nothing of another unit: the address stays this unit's, left to the prober
    // (pinged now and then), not polled over HTTP, which to a vanished host costs the LAN ARP broadcasts.
    if (candidate && candidate.answeredBy === null && candidate.refusal === 'unreachable') candidate.answeredBy = unitId;
    if (candidate?.answeredBy !== unitId || candidate.problem !== null) {
      if (finding === 'greeting') return 'unknown';
      this.markOffline(unitId, `${why}, nor over HTTP`);
      return 'offline';
    }
    if (peer.probeAcked) return 'answers-http';
    if (wasConfirmed) {
      this.options.logger?.warn(
        { unitId, name: peer.info.name, probeAddress: `${peer.host}:${peer.info.probePort}` },
        'peer answers signed HTTP though it stopped answering probes: it stays online, and is polled over HTTP should it keep not answering them',
      );
    }
    peer.probeMisses = (peer.probeMisses ?? 0) + 1;
    if (peer.probeMisses < PROBE_MISSES_BEFORE_POLLING) return 'answers-http';
    peer.unprobeable = true;
    this.options.logger?.warn(
      { unitId, name: peer.info.name, address: peer.address, probeAddress: `${peer.host}:${peer.info.probePort}`, misses: peer.probeMisses },
      'peer answers signed HTTP but has never acked a probe at its probe address (a NAT or firewall passing only its HTTP port?): its liveness is polled over HTTP instead',
    );
    this.publish();
    return 'not-probeable';
  }

  /** Whether this unit has reached `unitId`'s probe address (so its failed probes mean it is gone). */
  probeConfirmed(unitId: string): boolean {
    const peer = this.peersById.get(unitId);
    return peer?.probeAcked === true && !peer.unprobeable;
  }

  /**
   * A change pushed by the unit that changed, signed by it (`sender`): its new info. A unit not
   * known yet is asked, signed, at the address the push came from (as a calling unit is).
   */
  async receivePush(sender: string, info: UnitInfo, host: string): Promise<void> {
    if (info.unitId !== sender || sender === this.options.selfUnitId) return;
    const peer = this.peersById.get(sender);
    if (!peer) {
      await this.confirm(sender, host, info.httpPort);
      return;
    }
    peer.lastSeenAt = this.options.clock.now();
    if (!peer.online) {
      peer.online = true;
      this.options.logger?.info({ unitId: sender, name: info.name }, 'peer online again');
    }
    if (info.stateVersion === undefined || peer.info.stateVersion === undefined || supersedes(info.stateVersion, peer.info.stateVersion)) {
      // Its name, users and state; never its address or its ports, which only its own answers move.
      peer.info = { ...info, httpPort: peer.info.httpPort, probePort: peer.info.probePort };
    }
    this.publish();
  }

  /** Units whose liveness the prober watches: known, with a probe port, at an IPv4 address or a name. */
  probeMembers(): { unitId: string; host: string; port: number; online: boolean }[] {
    return [...this.peersById.values()]
      .filter((peer) => this.isProbed(peer))
      .map((peer) => ({ unitId: peer.info.unitId, host: peer.host, port: peer.info.probePort!, online: peer.online }));
  }

  /** Units with a probe port that never answered there from here (polled over HTTP): pinged now and then in case it does. */
  unprobedMembers(): { unitId: string; host: string; port: number; online: boolean }[] {
    return [...this.peersById.values()]
      .filter((peer) => peer.unprobeable && this.options.probed?.() === true && peer.info.probePort !== undefined && !peer.host.includes(':'))
      .map((peer) => ({ unitId: peer.info.unitId, host: peer.host, port: peer.info.probePort!, online: peer.online }));
  }

  /** Polls every candidate now and resolves when all have answered or failed. */
  async refresh(): Promise<void> {
    await Promise.all([...this.candidates.keys()].map((key) => this.poll(key, true)));
    this.sweep();
  }

  /** Another unit just spoke to us (an authenticated call request): it is evidently online. Its address stays as it is. */
  noteHeardFrom(unitId: string): void {
    const peer = this.peersById.get(unitId);
    if (!peer) return;
    peer.lastSeenAt = this.options.clock.now();
    if (!peer.online) {
      peer.online = true;
      this.publish();
    }
  }

  /**
   * The base URL of `unitId`, confirmed at `host:port` if this unit does not know it yet: a unit
   * that calls us before we have found it says which HTTP port it listens on, and the address its
   * request came from is asked who is there. Only that unit's own signed answer makes it the unit's
   * address (a relay's address never does). Null when it does not answer there as that unit.
   */
  async confirm(unitId: string, host: string, port: number): Promise<string | null> {
    const known = this.baseUrlOf(unitId);
    if (known) return known;
    host = bareHost(host);
    const baseUrl = peerBaseUrl(host, port);
    const result = await this.options.client.info(baseUrl, unitId);
    if (result.kind !== 'ok' || result.from !== unitId) {
      this.options.logger?.warn({ unitId, address: baseUrl.replace(/^http:\/\//, ''), result: result.kind === 'ok' ? `answered by ${result.from}` : result.message }, 'a calling unit does not answer at the address it called from');
      return null;
    }
    const key = `${host}|${port}`;
    if (!this.candidates.has(key)) this.candidates.set(key, { host, port, source: 'inbound', polling: false, isSelf: false, answeredBy: unitId, problem: null });
    this.record(this.candidates.get(key)!, baseUrl, result.value);
    return this.baseUrlOf(unitId);
  }

  /** The digest of the call groups `unitId` said it holds (its info), or null when unknown or not said. */
  groupsDigestOf(unitId: string): string | null {
    return this.peersById.get(unitId)?.info.groups ?? null;
  }

  /** HTTP base URL for `unitId`, e.g. "http://10.0.0.5:5000", or null when unknown. */
  baseUrlOf(unitId: string): string | null {
    return this.peersById.get(unitId)?.baseUrl ?? null;
  }

  /** Where this unit reaches `unitId`'s HTTP API (host without brackets), or null when it does not know it. */
  addressOf(unitId: string): { host: string; port: number } | null {
    const peer = this.peersById.get(unitId);
    return peer ? { host: peer.host, port: peer.port } : null;
  }

  peer(unitId: string): PeerView | null {
    const peer = this.peersById.get(unitId);
    return peer ? this.view(peer) : null;
  }

  /**
   * Addresses found on the LAN (DNS-SD, static peers, units that spoke to us) where no unit of this
   * site answers, with the reason: a unit of another site (or one not yet in a site) refuses our
   * signature; another version; or nothing answers.
   */
  untrusted(): UntrustedView[] {
    const known = new Set([...this.peersById.values()].map((peer) => peer.address));
    return [...this.candidates.values()]
      .filter((candidate) => !candidate.isSelf && candidate.problem !== null && !known.has(`${candidate.host}:${candidate.port}`))
      .map((candidate) => ({
        address: `${candidate.host}:${candidate.port}`,
        host: candidate.host,
        port: candidate.port,
        source: candidate.source,
        reason: candidate.refusal ?? 'unreachable',
        message: candidate.problem!,
      }))
      .sort((a, b) => a.address.localeCompare(b.address));
  }

  /**
   * `unitId` is no longer a unit of the site (removed, or left behind by a rotation): it leaves the
   * directory at once (its users too); its addresses are asked again as a stranger's.
   */
  forgetPeer(unitId: string): boolean {
    if (!this.peersById.delete(unitId)) return false;
    for (const candidate of this.candidates.values()) if (candidate.answeredBy === unitId) candidate.answeredBy = null;
    this.options.logger?.info({ unitId }, 'peer forgotten: it is no longer a unit of the site');
    this.publish();
    return true;
  }

  /** Units of this site that answered here before and now refuse this unit's secret (the site's secret was rotated without it). */
  formerPeers(): Array<{ unitId: string; name: string; address: string }> {
    return [...this.candidates.values()]
      .filter((candidate) => candidate.refusal === 'former-peer' && candidate.formerPeer && !this.peersById.has(candidate.formerPeer.unitId))
      .map((candidate) => ({ ...candidate.formerPeer!, address: `${candidate.host}:${candidate.port}` }));
  }

  /** This unit left its site: the units it knew are no longer its peers (they are asked again as strangers). */
  forgetPeers(): void {
    this.peersById.clear();
    for (const candidate of this.candidates.values()) {
      candidate.answeredBy = null;
      candidate.formerPeer = null;
    }
    this.publish();
  }

  peers(): PeerView[] {
    return [...this.peersById.values()].map((peer) => this.view(peer)).sort((a, b) => a.name.localeCompare(b.name) || a.unitId.localeCompare(b.unitId));
  }

  /** Every user of the site: this unit's and every known peer's (offline peers' users shown offline). */
  entries(): DirectoryEntry[] {
    const entries: DirectoryEntry[] = this.options.localUsers().map((name) => ({
      name,
      unitId: this.options.selfUnitId,
      unitName: this.options.selfName,
      local: true,
      online: true,
    }));
    for (const peer of this.peersById.values()) {
      for (const name of peer.info.users) {
        entries.push({ name, unitId: peer.info.unitId, unitName: peer.info.name, local: false, online: peer.online });
      }
    }
    return entries.sort((a, b) => a.name.localeCompare(b.name) || a.unitId.localeCompare(b.unitId));
  }

  /**
   * Where `name` lives. Should two units claim one name (registered on both while they could not see
   * each other), this unit's own user wins, then an online unit, then the lowest unit id, so every
   * unit resolves the name the same way.
   */
  findUser(name: string): DirectoryEntry | null {
    const key = userKey(name);
    const matches = this.entries().filter((entry) => userKey(entry.name) === key);
    matches.sort((a, b) => Number(b.local) - Number(a.local) || Number(b.online) - Number(a.online) || a.unitId.localeCompare(b.unitId));
    return matches[0] ?? null;
  }

  private view(peer: PeerState): PeerView {
    return {
      unitId: peer.info.unitId,
      name: peer.info.name,
      version: peer.info.version,
      address: peer.address,
      online: peer.online,
      inCall: peer.info.inCall,
      users: [...peer.info.users],
      source: peer.source,
      msSinceSeen: Math.max(0, Math.round(this.options.clock.now() - peer.lastSeenAt)),
      clockOffsetMs: roundedOrNull(this.options.clockOffsetOf?.(peer.info.unitId) ?? null),
    };
  }

  private async tick(): Promise<void> {
    for (const [key, candidate] of this.candidates) if (this.needsPolling(candidate)) void this.poll(key);
    this.sweep();
  }

  private isProbed(peer: PeerState): boolean {
    return this.options.probed?.() === true && peer.info.probePort !== undefined && !peer.host.includes(':') && !peer.unprobeable;
  }

  /**
   * An address is asked again on the poll interval only while no probed unit of the site is known
   * to answer there: a probed unit's liveness is the prober's (an offline one is watched by its
   * predecessor in the ring and pinged by everyone now and then), and HTTP to a vanished host
   * costs every unit on the LAN the ARP broadcasts that look for it.
   */
  private needsPolling(candidate: CandidateState): boolean {
    if (candidate.isSelf) return false;
    const peer = candidate.answeredBy === null ? undefined : this.peersById.get(candidate.answeredBy);
    return !peer || !this.isProbed(peer);
  }

  /** Fetches the info of a unit whose version moved (one fetch at a time per unit). */
  private async refetch(peer: PeerState): Promise<void> {
    if (peer.refetching) return;
    peer.refetching = true;
    try {
      const result = await this.options.client.info(peer.baseUrl, peer.info.unitId);
      if (result.kind !== 'ok' || result.from !== peer.info.unitId) return;
      const key = `${peer.host}|${peer.port}`;
      const candidate = this.candidates.get(key) ?? { host: peer.host, port: peer.port, source: peer.source, polling: false, isSelf: false, answeredBy: peer.info.unitId, problem: null };
      this.record(candidate, peer.baseUrl, result.value);
    } finally {
      peer.refetching = false;
    }
  }

  private async poll(key: string, force = false): Promise<void> {
    const candidate = this.candidates.get(key);
    if (!candidate || candidate.isSelf || (candidate.polling && !force)) return;
    candidate.polling = true;
    const baseUrl = peerBaseUrl(candidate.host, candidate.port);
    const askedFor = candidate.answeredBy;
    const result = await this.options.client.info(baseUrl, askedFor);
    candidate.polling = false;
    if (result.kind !== 'ok') {
      // Whoever answers here next is asked as a stranger again (the unit here may have been replaced).
      candidate.answeredBy = null;
      // A polled unit that does not answer at its own address is offline once silent long enough.
      const polled = askedFor === null ? undefined : this.peersById.get(askedFor);
      if (polled && polled.online && !this.isProbed(polled) && polled.baseUrl === baseUrl && this.options.clock.now() - polled.lastSeenAt >= this.options.offlineAfterMs) {
        this.markOffline(polled.info.unitId, `it does not answer over HTTP (${result.kind === 'refused' ? result.error : result.message})`);
      }
      // Said once per change, so that "another site", "another version" or "not a unit" is in the log.
      const problem = result.kind === 'refused' ? `${result.status} ${result.error}` : result.message;
      const refusal = refusalOf(result);
      // Whether a refusing unit is alone or in a site of its own: asked at most every 10 s per address.
      const now = this.options.clock.now();
      if (refusal === 'another-site' && this.options.client.hello && (candidate.helloAt === undefined || now - candidate.helloAt >= HELLO_INTERVAL_MS)) {
        candidate.helloAt = now;
        const hello = await this.options.client.hello(baseUrl);
        candidate.alone = hello !== null && !hello.inSite;
        // It lists this unit as left behind by a rotation of its site's secret (this unit was off then).
        if (hello?.leftBehind) candidate.formerPeer = { unitId: hello.unitId, name: hello.name };
      }
      candidate.refusal = refusal === 'another-site' && candidate.alone ? 'not-in-a-site' : refusal;
      // A unit of this site that answered here and now refuses our signature: the site's secret was
      // rotated without this unit (it was removed, or away). It leaves the directory, and people are told why.
      const former = refusal === 'another-site' && askedFor !== null ? this.peersById.get(askedFor) : undefined;
      if (former) {
        candidate.formerPeer = { unitId: former.info.unitId, name: former.info.name };
        this.options.logger?.warn({ unitId: former.info.unitId, name: former.info.name, address: `${candidate.host}:${candidate.port}` }, 'a unit of the site no longer accepts this unit\'s secret (the site\'s secret was changed without it)');
        this.forgetPeer(former.info.unitId);
      }
      let message = problem;
      if (candidate.formerPeer && refusal === 'another-site') {
        candidate.refusal = 'former-peer';
        message = `${candidate.formerPeer.name} was a unit of this site and no longer accepts this unit: the site's secret was changed while this unit was away or after it was removed; join the site again with a code from one of its units`;
      }
      if (message !== candidate.problem) this.options.logger?.info({ address: `${candidate.host}:${candidate.port}`, source: candidate.source, problem: message }, 'no unit of the site answers here');
      candidate.problem = message;
      return;
    }
    candidate.answeredBy = result.from;
    candidate.problem = null;
    candidate.refusal = null;
    candidate.formerPeer = null;
    if (result.value.unitId === this.options.selfUnitId) {
      candidate.isSelf = true;
      return;
    }
    this.record(candidate, baseUrl, result.value);
  }

  /** A unit answered, signed, at `baseUrl`: its info is news; its address changes only as the class comment says. */
  private record(candidate: CandidateState, baseUrl: string, info: UnitInfo): void {
    const address = baseUrl.replace(/^http:\/\//, '');
    const existing = this.peersById.get(info.unitId);
    const now = this.options.clock.now();
    if (existing) {
      const wasOnline = existing.online;
      // Another probe port: whether it answers from here is to be found out again.
      if (existing.info.probePort !== info.probePort) forgetProbeHistory(existing);
      existing.info = info;
      existing.lastSeenAt = now;
      existing.online = true;
      if (existing.baseUrl === baseUrl) {
        existing.addressSeenAt = now;
      } else if (now - existing.addressSeenAt >= this.options.offlineAfterMs || (this.isProbed(existing) && !wasOnline)) {
        // A probed unit found offline at its old address (its probes failed there) moves at once.
        this.options.logger?.info({ unitId: info.unitId, name: info.name, from: existing.address, to: address }, 'peer moved');
        existing.address = address;
        existing.host = bareHost(candidate.host);
        existing.port = candidate.port;
        existing.baseUrl = baseUrl;
        existing.addressSeenAt = now;
        forgetProbeHistory(existing);
      }
      // How it is known: a static entry before DNS-SD before its own word (a call, a push).
      if (SOURCE_RANK[candidate.source] > SOURCE_RANK[existing.source]) existing.source = candidate.source;
    } else {
      this.peersById.set(info.unitId, { info, host: bareHost(candidate.host), port: candidate.port, address, baseUrl, source: candidate.source, online: true, lastSeenAt: now, addressSeenAt: now });
      this.options.logger?.info({ unitId: info.unitId, name: info.name, address }, 'peer found');
    }
    this.publish();
  }

  private sweep(): void {
    const now = this.options.clock.now();
    for (const peer of this.peersById.values()) {
      // A probed unit's liveness is the prober's to judge, not silence's (it is not polled).
      if (peer.online && !this.isProbed(peer) && now - peer.lastSeenAt >= this.unprobedSilenceMs()) {
        peer.online = false;
        this.options.logger?.warn({ unitId: peer.info.unitId, name: peer.info.name }, 'peer offline');
      }
    }
    this.publish();
  }

  /**
   * How long a polled unit may be silent before it is shown offline: `offlineAfterMs`, plus a poll
   * interval while units are probed (then the poll interval is long, and a unit polled every
   * interval must not drop offline between two answers). A failed poll of it takes it offline
   * as soon as it has been silent for `offlineAfterMs` (see poll).
   */
  private unprobedSilenceMs(): number {
    return this.options.offlineAfterMs + (this.options.probed?.() === true ? this.options.pollIntervalMs : 0);
  }

  /** Emits `changed` only when something a viewer would see has changed (not merely time passing or clock estimates). */
  private publish(): void {
    const visible = JSON.stringify(this.peers().map(({ msSinceSeen: _ignored, clockOffsetMs: _estimate, ...rest }) => rest));
    if (visible === this.lastPublished) return;
    this.lastPublished = visible;
    this.emit('changed', this.peers());
  }
}

const HELLO_INTERVAL_MS = 10_000;

/** Rounds of failed probes, each while its HTTP answered, before a unit that never acked one is polled instead. */
const PROBE_MISSES_BEFORE_POLLING = 2;

function forgetProbeHistory(peer: PeerState): void {
  peer.probeAcked = false;
  peer.probeMisses = 0;
  peer.unprobeable = false;
}

const SOURCE_RANK: Record<PeerCandidate['source'], number> = { site: 0, inbound: 0, 'dns-sd': 1, static: 2 };

/** Whether info version `candidate` ("epoch.counter") replaces `known`: another epoch (the unit restarted) or a later change. */
export function supersedes(candidate: string, known: string): boolean {
  const [candidateEpoch, candidateCount] = candidate.split('.');
  const [knownEpoch, knownCount] = known.split('.');
  return candidateEpoch !== knownEpoch || Number(candidateCount) > Number(knownCount);
}

/** What kind of address answered a poll without proving it is a unit of this site. */
function refusalOf(result: Exclude<PeerResult<UnitInfo>, { kind: 'ok' }>): UntrustedReason {
  const answer = result.kind === 'refused' ? { status: result.status, error: result.error } : result.unverified;
  if (!answer) return 'unreachable';
  if (answer.error === 'protocol-version') return 'another-version';
  // A unit refuses requests not signed with its site's secret with 401 "unauthorized".
  if (answer.status === 401 && answer.error === 'unauthorized') return 'another-site';
  return 'not-a-unit';
}

/** An IPv4 address as an IPv6 socket reports it ("::ffff:10.0.0.5") is the IPv4 address. */
function bareHost(host: string): string {
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}

function roundedOrNull(value: number | null): number | null {
  return value === null ? null : Math.round(value);
}
