import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { Logger } from '../logging/logger.js';
import { ReplayCache } from '../security/replay-cache.js';
import { decodeDatagram, encodeDatagram, type AckDatagram, type PresenceDatagram } from './presence-datagram.js';
import { OfflinePingSchedule } from './offline-ping-schedule.js';
import { startAnswerDeadline, type AnswerDeadline } from './answer-deadline.js';

/** The longest a watched offline unit goes unpinged (its watcher notices one that came back silently within this). */
const WATCH_MAX_DELAY_MS = 60_000;
/** The longest the backstop leaves one offline unit unpinged (a wrong "offline" is mostly found by comparing views). */
const BACKSTOP_MAX_DELAY_MS = 30 * 60_000;

/** Where datagrams go and come from: a UDP socket (presence-socket.ts) or an in-memory network in tests. */
export interface PresenceTransport {
  send(bytes: Buffer, host: string, port: number): void;
  onDatagram(handler: (bytes: Buffer, from: { host: string; port: number }) => void): void;
}

/** A unit of the site the prober may probe: where its probe socket is, and whether it is online now. */
export interface ProbeMember {
  unitId: string;
  host: string;
  port: number;
  online: boolean;
}

/** What the prober finds out (the directory acts on it). */
export interface ProbeFindings {
  /**
   * `unitId` proved it is alive (its ack, or its own ping); `version`: its info's version. `acked`:
   * it answered a probe this unit sent to its probe address (directly or through others), so that
   * address works from here; false for its own ping, which proves nothing about reaching it.
   */
  alive(unitId: string, version: string, acked: boolean): void;
  /** This unit's monitoring found a unit it watches gone (no ack, directly or through k others). */
  down(unitId: string): void;
  /** This unit's monitoring found an offline unit it watches answering again. */
  up(unitId: string): void;
  /** A unit this unit pinged answered with the digest of the units it sees online. */
  view?(unitId: string, view: string): void;
}

export interface PresenceProberOptions {
  selfUnitId: string;
  clock: Clock;
  /** Wall-clock milliseconds for the freshness stamps (default Date.now). */
  wallClock?: () => number;
  /** Milliseconds to add to this unit's wall clock to read `unitId`'s (PeerClockOffsets). */
  clockOffsetMs?: (unitId: string) => number;
  /** Read at every datagram: the secret changes when the unit joins or leaves a site. */
  secret: () => string;
  transport: PresenceTransport;
  members: () => ProbeMember[];
  /**
   * Units left out of `members` because their probe address never answered from here (a NAT or a
   * firewall that passes only their HTTP port): one of them is pinged every `backstopIntervalMs`,
   * so one that becomes reachable is probed again. Default: none.
   */
  unprobedMembers?: () => ProbeMember[];
  /** This unit's info version ("epoch.counter"), sent in every datagram. */
  selfVersion: () => string;
  /** The digest of the units this unit sees online, sent in its pings and acks (default: none). */
  selfView?: () => string;
  findings: ProbeFindings;
  /** One probe of this unit's successor per period. */
  periodMs: number;
  /** How long an ack is waited for (a ping-req's relayed ack: twice this). */
  timeoutMs: number;
  /** How many other units are asked to probe a unit that did not answer directly (SWIM's k). */
  indirectProbes: number;
  /** How often one offline unit outside this unit's watch is pinged anyway (discovery.pollIntervalMs). */
  backstopIntervalMs: number;
  /** Freshness window of pings and ping-reqs (site.maxClockSkewMs). */
  maxClockSkewMs: number;
  /**
   * Whether this unit takes calls now (its HTTP API listens): while not, it neither answers nor
   * sends probes, so a unit whose API has gone is not shown online. Default: always.
   */
  serving?: () => boolean;
  random?: () => number;
  logger?: Logger;
}

/** Counts for /api/status and the packet-budget tests. */
export interface ProbeCounters {
  sent: number;
  received: number;
  refused: number;
}

interface Outstanding {
  unitId: string;
  /** Units that relay for this nonce (a ping-req's helpers); empty for a direct ping. */
  helpers: Set<string>;
  resolve: (version: string | null) => void;
  deadline: AnswerDeadline;
}

interface Relay {
  requester: string;
  requesterNonce: string;
  replyTo: { host: string; port: number };
  target: string;
  deadline: AnswerDeadline;
}

/**
 * Liveness by SWIM-style probing, bounded whatever the site's size. The site's units form a ring
 * ordered by unit id; each period this unit pings its successor (the next unit it sees online), so
 * every unit sends one ping and one ack a period and receives as many. A successor that does not
 * ack is pinged through `indirectProbes` other units (a ping-req) before it is declared down, so
 * one bad link does not take a unit offline; then the next unit of the ring is probed at once, so a
 * run of units that vanished together is walked through without waiting a period for each. The
 * offline units between this unit and its successor are its to watch as well: one of them is
 * pinged each period (each less often the longer it stays away: OfflinePingSchedule), and one that
 * answers is declared up.
 *
 * What this unit alone sees it reports in `findings`; telling the rest of the site (who check for
 * themselves with `verify`) is the caller's part (src/peers/presence-service.ts).
 */
export class PresenceProber {
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly relays = new Map<string, Relay>();
  private readonly replay: ReplayCache;
  private readonly counts: ProbeCounters = { sent: 0, received: 0, refused: 0 };
  private timer: TimerHandle | null = null;
  private probing = false;
  private offlineCursor = 0;
  private backstopCursor = 0;
  private lastBackstopAt = -Infinity;
  private lastUnprobedAt = -Infinity;
  private unprobedCursor = 0;
  private readonly watchSchedule: OfflinePingSchedule;
  private readonly backstopSchedule: OfflinePingSchedule;
  private refusedSinceLog = 0;
  private lastRefusalLogAt = -Infinity;
  private lastProbedAt = -Infinity;

  constructor(private readonly options: PresenceProberOptions) {
    this.replay = new ReplayCache({ retainMs: options.maxClockSkewMs, maxEntries: 10_000 });
    this.watchSchedule = new OfflinePingSchedule(options.periodMs, Math.max(options.periodMs, WATCH_MAX_DELAY_MS));
    this.backstopSchedule = new OfflinePingSchedule(options.backstopIntervalMs, Math.max(options.backstopIntervalMs, BACKSTOP_MAX_DELAY_MS));
    options.transport.onDatagram((bytes, from) => this.receive(bytes, from));
  }

  start(): void {
    if (this.timer) return;
    this.timer = this.options.clock.setInterval(() => void this.tick(), this.options.periodMs);
  }

  stop(): void {
    if (this.timer) this.options.clock.clearInterval(this.timer);
    this.timer = null;
    for (const pending of this.outstanding.values()) {
      pending.deadline.cancel();
      pending.resolve(null);
    }
    this.outstanding.clear();
    for (const relay of this.relays.values()) relay.deadline.cancel();
    this.relays.clear();
  }

  counters(): ProbeCounters {
    return { ...this.counts };
  }

  /**
   * When (clock ms) another unit of the site last probed this one (a fresh, signed ping or
   * ping-req): a unit the site knows is pinged every period by the unit before it in the ring.
   */
  lastProbedByPeerAt(): number {
    return this.lastProbedAt;
  }

  /**
   * Whether `unitId` answers this unit now (its version, or null): pinged directly, then again
   * directly and through k others at once. For
   * another unit's word that a unit went or came back (each unit checks for itself).
   */
  async verify(unitId: string): Promise<string | null> {
    const member = this.options.members().find((candidate) => candidate.unitId === unitId);
    if (!member) return null;
    const first = await this.ping(member);
    if (first !== null) return first;
    // A second direct ping and the indirect one together: no longer than the indirect one alone.
    const [direct, indirect] = await Promise.all([this.ping(member), this.pingIndirectly(member)]);
    return direct ?? indirect;
  }

  /**
   * Now and then one offline unit outside this unit's watch (any, in turn) is pinged: should this
   * unit alone have it offline wrongly (a check that failed on a bad link), it sees it back. Every
   * such ping to a unit that is really gone makes the kernel ask the whole LAN for its address
   * (three ARP broadcasts, received by every unit), so the site shares one budget: each unit
   * pings once per `backstopIntervalMs` times the units it sees online (with 20 of 50 unplugged,
   * one a period each made ~9 broadcasts a second at every unit). Comparing views and a returning
   * unit's own probes find nearly everything first. Units whose probe address never answered
   * (`unprobedMembers`) are tried once per `backstopIntervalMs`: nothing else reaches them.
   */
  private backstop(ring: ProbeMember[]): void {
    const now = this.options.clock.now();
    const watched = new Set(this.watchRange(ring).map((member) => member.unitId));
    const online = ring.filter((member) => member.online).length;
    if (now - this.lastBackstopAt >= this.options.backstopIntervalMs * Math.max(1, online)) {
      this.lastBackstopAt = now;
      const offline = ring.filter((member) => !member.online && !watched.has(member.unitId) && this.backstopSchedule.isDue(member.unitId, now));
      if (offline.length > 0) {
        const member = offline[this.backstopCursor++ % offline.length];
        void this.pingOffline(member, this.backstopSchedule).then((version) => {
          if (version !== null) this.options.findings.alive(member.unitId, version, true);
        });
      }
    }
    const unprobed = this.options.unprobedMembers?.() ?? [];
    if (unprobed.length > 0 && now - this.lastUnprobedAt >= this.options.backstopIntervalMs) {
      this.lastUnprobedAt = now;
      const member = unprobed[this.unprobedCursor++ % unprobed.length];
      void this.ping(member).then((version) => {
        if (version !== null) this.options.findings.alive(member.unitId, version, true);
      });
    }
  }

  /**
   * The offline units before this unit's successor in `ring`: this unit's to watch. All of them
   * when it sees none online (cut off itself, as it looks).
   */
  private watchRange(ring: ProbeMember[]): ProbeMember[] {
    const firstOnline = ring.findIndex((member) => member.online);
    return firstOnline < 0 ? ring : ring.slice(0, firstOnline);
  }

  /** The unit after this one in the ring of unit ids, in order, wrapping around. */
  private ring(): ProbeMember[] {
    const self = this.options.selfUnitId;
    const members = this.options.members().filter((member) => member.unitId !== self);
    members.sort((a, b) => (a.unitId < b.unitId ? -1 : a.unitId > b.unitId ? 1 : 0));
    const after = members.findIndex((member) => member.unitId > self);
    return after <= 0 ? members : [...members.slice(after), ...members.slice(0, after)];
  }

  private async tick(): Promise<void> {
    if (this.probing || this.options.serving?.() === false) return;
    this.probing = true;
    try {
      const ring = this.ring();
      const offline = new Set(ring.filter((member) => !member.online).map((member) => member.unitId));
      this.watchSchedule.keepOnly(offline);
      this.backstopSchedule.keepOnly(offline);
      // The offline units before the successor are this unit's to watch: one a period, each less
      // often the longer it stays away; but a unit that sees none online is likely cut off itself,
      // and asks one every period to find its way back.
      const now = this.options.clock.now();
      const watched = ring.some((member) => member.online) ? this.watchRange(ring).filter((member) => this.watchSchedule.isDue(member.unitId, now)) : ring;
      if (watched.length > 0) {
        const member = watched[this.offlineCursor++ % watched.length];
        void this.pingOffline(member, this.watchSchedule).then((version) => {
          if (version === null) return;
          this.options.findings.alive(member.unitId, version, true);
          this.options.findings.up(member.unitId);
        });
      }
      // The successor; one found down hands the watch on to the next ones at once, a few at a time
      // (units often vanish together: a switch, a fuse), until one answers.
      let next = ring.filter((member) => member.online);
      let batch = 1;
      while (next.length > 0 && this.timer) {
        const probed = next.slice(0, batch);
        next = next.slice(batch);
        const versions = await Promise.all(probed.map(async (member) => (await this.ping(member)) ?? (await this.pingIndirectly(member))));
        const firstAlive = versions.findIndex((version) => version !== null);
        probed.forEach((member, index) => {
          const version = versions[index];
          if (version !== null) this.options.findings.alive(member.unitId, version, true);
          else if (firstAlive < 0 || index < firstAlive) {
            this.options.logger?.warn({ unitId: member.unitId }, 'peer does not answer probes, directly or through others');
            this.options.findings.down(member.unitId);
          }
        });
        if (firstAlive >= 0) break;
        batch = Math.min(MAX_WALK_BATCH, batch * 4);
      }
      this.backstop(this.ring());
    } finally {
      this.probing = false;
    }
  }

  /** A ping to an offline unit, recorded in `schedule` (when to ping it next). */
  private async pingOffline(member: ProbeMember, schedule: OfflinePingSchedule): Promise<string | null> {
    schedule.sent(member.unitId, this.options.clock.now());
    const version = await this.ping(member);
    if (version === null) schedule.unanswered(member.unitId);
    else schedule.answered(member.unitId);
    return version;
  }

  private ping(member: ProbeMember): Promise<string | null> {
    const nonce = newNonce();
    const promise = this.expect(nonce, member.unitId, [], this.options.timeoutMs);
    this.send({ kind: 'ping', from: this.options.selfUnitId, to: member.unitId, nonce, ts: this.stamp(member.unitId), ver: this.options.selfVersion(), ...this.view() }, member);
    return promise;
  }

  private pingIndirectly(member: ProbeMember): Promise<string | null> {
    const random = this.options.random ?? Math.random;
    const helpers = this.options.members().filter((other) => other.online && other.unitId !== member.unitId && other.unitId !== this.options.selfUnitId);
    const chosen: ProbeMember[] = [];
    while (chosen.length < this.options.indirectProbes && helpers.length > 0) chosen.push(helpers.splice(Math.floor(random() * helpers.length), 1)[0]);
    if (chosen.length === 0) return Promise.resolve(null);
    const nonce = newNonce();
    const promise = this.expect(nonce, member.unitId, chosen.map((helper) => helper.unitId), 2 * this.options.timeoutMs);
    for (const helper of chosen) {
      this.send(
        {
          kind: 'ping-req',
          from: this.options.selfUnitId,
          to: helper.unitId,
          nonce,
          ts: this.stamp(helper.unitId),
          ver: this.options.selfVersion(),
          target: { unitId: member.unitId, host: member.host, port: member.port },
        },
        helper,
      );
    }
    return promise;
  }

  private expect(nonce: string, unitId: string, helpers: string[], timeoutMs: number): Promise<string | null> {
    return new Promise((resolve) => {
      const deadline = startAnswerDeadline(this.options.clock, timeoutMs, () => {
        this.outstanding.delete(nonce);
        resolve(null);
      });
      this.outstanding.set(nonce, { unitId, helpers: new Set(helpers), resolve, deadline });
    });
  }

  private stamp(unitId: string): number {
    return Math.max(0, Math.round((this.options.wallClock ?? Date.now)() + (this.options.clockOffsetMs?.(unitId) ?? 0)));
  }

  private send(datagram: PresenceDatagram, to: { host: string; port: number }): void {
    this.counts.sent += 1;
    try {
      this.options.transport.send(encodeDatagram(this.options.secret(), datagram), to.host, to.port);
    } catch (error) {
      this.options.logger?.debug({ err: error, to: `${to.host}:${to.port}` }, 'presence datagram not sent');
    }
  }

  private receive(bytes: Buffer, from: { host: string; port: number }): void {
    this.counts.received += 1;
    if (this.options.serving?.() === false) return;
    const decoded = decodeDatagram(this.options.secret(), bytes);
    if (!decoded.ok) {
      this.refuse(decoded.reason, from);
      return;
    }
    if (decoded.datagram.to !== this.options.selfUnitId || decoded.datagram.from === this.options.selfUnitId) {
      this.counts.refused += 1;
      return;
    }
    const datagram = decoded.datagram;
    if (datagram.kind === 'ack') {
      this.receiveAck(datagram);
      return;
    }
    // A ping or ping-req counts once, and only while fresh: a recorded one sent again is dropped.
    const now = (this.options.wallClock ?? Date.now)();
    if (Math.abs(now - datagram.ts) > this.options.maxClockSkewMs || this.replay.admit(datagram.nonce, datagram.ts, now) !== 'fresh') {
      this.counts.refused += 1;
      return;
    }
    this.lastProbedAt = this.options.clock.now();
    // Its own signed, fresh ping proves the sender alive as well as its ack would.
    this.options.findings.alive(datagram.from, datagram.ver, false);
    if (datagram.kind === 'ping') {
      // To the address the ping came from, never the sender's announced port: through a NAT that
      // is the mapping its ping opened, so a unit behind one is answered.
      this.send({ kind: 'ack', from: this.options.selfUnitId, to: datagram.from, nonce: datagram.nonce, ver: this.options.selfVersion(), ...this.view() }, from);
      return;
    }
    const nonce = newNonce();
    const relay: Relay = {
      requester: datagram.from,
      requesterNonce: datagram.nonce,
      replyTo: from,
      target: datagram.target.unitId,
      // Forgotten as in expect(): a target's ack waiting at the deadline, or held up by a starved machine, is still relayed.
      deadline: startAnswerDeadline(this.options.clock, this.options.timeoutMs, () => this.relays.delete(nonce)),
    };
    this.relays.set(nonce, relay);
    const target = datagram.target;
    this.send({ kind: 'ping', from: this.options.selfUnitId, to: target.unitId, nonce, ts: this.stamp(target.unitId), ver: this.options.selfVersion() }, target);
  }

  /**
   * A datagram not signed with this site's secret (a unit removed from the site, or left behind by
   * a rotation, probing on with the old one; another site's unit; noise): counted, and said in the
   * log at most once a REFUSAL_LOG_INTERVAL_MS with how many came since, never once per datagram.
   */
  private refuse(reason: 'malformed' | 'bad-signature', from: { host: string; port: number }): void {
    this.counts.refused += 1;
    this.refusedSinceLog += 1;
    const now = this.options.clock.now();
    if (now - this.lastRefusalLogAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.options.logger?.warn(
      { reason, from: `${from.host}:${from.port}`, refused: this.refusedSinceLog },
      'presence datagrams refused: not signed with this site\'s secret, or not well-formed (a unit removed from the site still probing it?)',
    );
    this.lastRefusalLogAt = now;
    this.refusedSinceLog = 0;
  }

  private receiveAck(ack: AckDatagram): void {
    const relay = this.relays.get(ack.nonce);
    if (relay && ack.from === relay.target && ack.about === undefined) {
      this.relays.delete(ack.nonce);
      relay.deadline.cancel();
      // Reached at the address the requester gave, which may not be where this unit reaches it.
      this.options.findings.alive(ack.from, ack.ver, false);
      this.send(
        { kind: 'ack', from: this.options.selfUnitId, to: relay.requester, nonce: relay.requesterNonce, ver: this.options.selfVersion(), about: { unitId: ack.from, ver: ack.ver } },
        relay.replyTo,
      );
      return;
    }
    const pending = this.outstanding.get(ack.nonce);
    if (!pending) return;
    const direct = ack.about === undefined && ack.from === pending.unitId && pending.helpers.size === 0;
    const relayed = ack.about !== undefined && ack.about.unitId === pending.unitId && pending.helpers.has(ack.from);
    if (!direct && !relayed) {
      this.counts.refused += 1;
      return;
    }
    this.outstanding.delete(ack.nonce);
    pending.deadline.cancel();
    pending.resolve(relayed ? ack.about!.ver : ack.ver);
    if (direct && ack.view !== undefined) this.options.findings.view?.(ack.from, ack.view);
  }

  private view(): { view?: string } {
    const view = this.options.selfView?.();
    return view === undefined ? {} : { view };
  }
}

/** Datagrams refused for their signature or form are said in the log at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** Most units probed at once when walking past vanished ones. */
const MAX_WALK_BATCH = 16;

function newNonce(): string {
  return randomBytes(12).toString('base64url');
}
