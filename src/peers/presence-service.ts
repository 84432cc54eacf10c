import type { Clock, TimerHandle } from '../system/clock.js';
import type { Logger } from '../logging/logger.js';
import type { PeerDirectory } from './peer-directory.js';
import type { PeerResult, PeerTarget } from './peer-client.js';
import type { PresenceAnswer, PresencePush, UnitAddress, UnitInfo } from './peer-protocol.js';
import { PresenceProber, type PresenceTransport, type ProbeCounters } from './presence-prober.js';
import { viewDigest } from './presence-datagram.js';

/**
 * A unit whose acks carry the same view of the site, other than this unit's unchanged one, this
 * many probes in a row (a period each) is asked to compare. Views that keep changing are a site
 * in flux (units starting, pushes on their way): nothing is compared then.
 */
export const VIEW_MISMATCH_PROBES = 5;
/**
 * Two units compare the same two views at most this often (a unit that only one of them reaches
 * keeps them different for good); once either view has changed, they may compare again at once.
 */
export const VIEW_SYNC_INTERVAL_MS = 60_000;
/** How often a word about another unit is pushed to one unit before it is left to comparing views. */
export const WORD_TRIES = 5;

export interface PresenceServiceOptions {
  selfUnitId: string;
  directory: PeerDirectory;
  client: { pushPresence(target: PeerTarget, push: PresencePush): Promise<PeerResult<PresenceAnswer>> };
  /** This unit's info as GET /info answers it, without the presence fields (added here). */
  selfInfo: () => Omit<UnitInfo, 'probePort' | 'stateVersion'>;
  transport: PresenceTransport;
  /** The UDP port the transport is bound to (told to other units in the info). */
  probePort: () => number | null;
  secret: () => string;
  clock: Clock;
  wallClock?: () => number;
  clockOffsetMs?: (unitId: string) => number;
  periodMs: number;
  timeoutMs: number;
  indirectProbes: number;
  /** How often an offline unit outside this unit's watch is pinged anyway. */
  backstopIntervalMs: number;
  maxClockSkewMs: number;
  /** Changes are pushed this long after the first of a burst (a call's ring and answer are one push, often). */
  pushDelayMs?: number;
  /** Whether this unit's HTTP API listens (see PresenceProberOptions.serving). */
  serving?: () => boolean;
  random?: () => number;
  logger?: Logger;
}

/**
 * Presence without polling: this unit's side of it.
 * - Its info carries a version ("epoch.counter": the wall clock when it started, and a count of
 *   changes); when its users or state change (`changed()`), it pushes its new info, signed, to the
 *   units it sees online, and every probe datagram carries the version, so a unit that missed the
 *   push fetches the info at the next probe that reaches it.
 * - Its prober (SWIM-style, presence-prober.ts) watches its successor in the ring of unit ids; what
 *   it finds (a unit gone, or back) it tells every online unit, and each of them checks for itself
 *   with its own probes before believing it.
 * - A unit newly seen online is sent this unit's info once, so it knows this unit even where
 *   multicast does not pass (static `peers` on one side only), with the units this one sees
 *   online, which it checks with its own probes (back from being cut off, it had them offline).
 * - A word about another unit that a push did not deliver is said again each period (owedWords).
 * - Anti-entropy: pings and acks carry a digest of the units their sender sees online. A word can
 *   still be lost (its answer lost though it arrived; tried WORD_TRIES times), and nothing else
 *   would bring it again: a unit whose successor's view stays
 *   other than its own for VIEW_MISMATCH_PROBES probes sends it the units it sees online (`sync`),
 *   and each checks the units the two see differently with its own probes.
 */
export class PresenceService {
  readonly prober: PresenceProber;
  private readonly epoch: number;
  private counter = 0;
  private pushTimer: TimerHandle | null = null;
  private readonly introduced = new Set<string>();
  /** Units a push of this unit's info did not reach: sent the current info again each period while they are online. */
  private readonly owed = new Set<string>();
  /**
   * Words about other units (gone, back) a push did not deliver, per receiving unit, with how often
   * they were tried: said again together each period while the receiver is online and this unit
   * still holds them, up to WORD_TRIES times. On a busy site pushes time out although the receiver
   * is there (seen: 2574 of them while 20 of 50 units vanished), and a lost word waited for views
   * to be compared, a minute and more.
   */
  private readonly owedWords = new Map<string, Map<string, { online: boolean; tries: number }>>();
  private retryTimer: TimerHandle | null = null;
  /**
   * Units this unit's watch found gone, told to the site in one push a moment after the first.
   * Units vanish together (a switch, a fuse), and the watch walks past them a batch at a time: a
   * push per unit was 20 pushes to each of 30 units when 20 of 50 went, on a site then busiest.
   */
  private readonly goneUntold = new Set<string>();
  private goneTimer: TimerHandle | null = null;
  /** Units being greeted (probed until they first ack, or are found not probeable from here). */
  private readonly greeting = new Set<string>();
  /** Units being checked because another unit listed them online (catchUp). */
  private readonly catchingUp = new Set<string>();
  private readonly onDirectoryChanged = () => this.introduceToNewPeers();
  /** Probes in a row whose ack carried the same view other than this unit's same one, per unit. */
  private readonly viewMismatches = new Map<string, { views: string; count: number }>();
  /** When this unit last compared views with a unit (clock ms), and the two views it compared. */
  private readonly lastSync = new Map<string, { at: number; views: string }>();
  /** Units being checked because this unit and another see them differently. */
  private readonly reconciling = new Set<string>();
  private running = false;

  constructor(private readonly options: PresenceServiceOptions) {
    this.epoch = Math.round((options.wallClock ?? Date.now)());
    const { directory } = options;
    this.prober = new PresenceProber({
      selfUnitId: options.selfUnitId,
      clock: options.clock,
      wallClock: options.wallClock,
      clockOffsetMs: options.clockOffsetMs,
      secret: options.secret,
      transport: options.transport,
      members: () => directory.probeMembers(),
      unprobedMembers: () => directory.unprobedMembers(),
      selfVersion: () => this.version(),
      selfView: () => this.view(),
      periodMs: options.periodMs,
      timeoutMs: options.timeoutMs,
      indirectProbes: options.indirectProbes,
      backstopIntervalMs: options.backstopIntervalMs,
      maxClockSkewMs: options.maxClockSkewMs,
      random: options.random,
      serving: options.serving,
      logger: options.logger,
      findings: {
        alive: (unitId, version, acked) => directory.noteAlive(unitId, version, acked),
        down: (unitId) => {
          // Told to the site only when it is gone, not when only its probe address is out of reach from here.
          void directory.probeFailed(unitId, 'it answers no probe, directly or through other units', 'watch').then((outcome) => {
            if (outcome === 'offline' && this.running) this.tellGone(unitId);
          });
        },
        view: (unitId, view) => this.compareView(unitId, view),
        up: (unitId) => {
          // Back from being cut off ourselves (no unit online but this one): everything is asked again at once.
          if (directory.probeMembers().every((member) => !member.online || member.unitId === unitId)) void directory.refresh();
          this.tellOnlinePeers({ seen: { unitId, online: true } }, unitId);
        },
      },
    });
  }

  /** The units this unit sees online, itself included. */
  private onlineUnitIds(): string[] {
    return [this.options.selfUnitId, ...this.options.directory.peers().filter((peer) => peer.online).map((peer) => peer.unitId)];
  }

  /** The digest of what this unit sees online, carried by its pings and acks. */
  view(): string {
    return viewDigest(this.onlineUnitIds());
  }

  /** What POST /presence answers: to a `sync`, the units this unit sees online and where (before it checks the sender's). */
  answer(push: PresencePush): { received: true; online?: string[]; where?: UnitAddress[] } {
    return push.sync ? { received: true, online: this.onlineUnitIds(), where: this.whereOnline() } : { received: true };
  }

  /** Where this unit reaches the other units it sees online. */
  private whereOnline(): UnitAddress[] {
    const { directory } = this.options;
    return directory
      .peers()
      .filter((peer) => peer.online)
      .flatMap((peer) => {
        const address = directory.addressOf(peer.unitId);
        return address ? [{ unitId: peer.unitId, ...address }] : [];
      });
  }

  private compareView(unitId: string, view: string): void {
    const own = this.view();
    if (view === own) {
      this.viewMismatches.delete(unitId);
      return;
    }
    const views = `${own} ${view}`;
    const previous = this.viewMismatches.get(unitId);
    const misses = previous?.views === views ? previous.count + 1 : 1;
    this.viewMismatches.set(unitId, { views, count: misses });
    const now = this.options.clock.now();
    const last = this.lastSync.get(unitId);
    if (misses < VIEW_MISMATCH_PROBES || !this.running || (last && last.views === views && now - last.at < VIEW_SYNC_INTERVAL_MS)) return;
    this.lastSync.set(unitId, { at: now, views });
    this.viewMismatches.delete(unitId);
    void this.sync(unitId);
  }

  /** Sends `unitId` the units this unit sees online; checks those its answer sees otherwise. */
  private async sync(unitId: string): Promise<void> {
    const baseUrl = this.options.directory.baseUrlOf(unitId);
    if (!baseUrl) return;
    this.options.logger?.info({ unitId }, 'its view of the site has long differed from this unit\'s: comparing them');
    const result = await this.options.client.pushPresence({ unitId, baseUrl }, { online: this.onlineUnitIds(), sync: true, where: this.whereOnline() });
    if (result.kind === 'ok' && result.value.online) await this.reconcile(unitId, result.value.online, result.value.where);
  }

  /**
   * Another unit's list of the units it sees online: those this unit sees otherwise are checked
   * with this unit's own probes, both ways (one it has offline that answers is online, one it has
   * online that answers no probe, directly or through others, is offline). Units it never heard
   * of (their announcements and its own lost both ways while a site started) it asks at the
   * address the other unit gave, as it would a unit announced on DNS-SD.
   */
  private async reconcile(sender: string, online: readonly string[], where: readonly UnitAddress[] = []): Promise<void> {
    const { directory } = this.options;
    const listed = new Set(online);
    for (const address of where) {
      if (!listed.has(address.unitId) || address.unitId === this.options.selfUnitId || directory.peer(address.unitId)) continue;
      this.options.logger?.info({ unitId: address.unitId, address: `${address.host}:${address.port}`, namedBy: sender }, 'a unit this one never heard of is online for another: asking it');
      directory.addCandidate({ host: address.host, port: address.port, source: 'site' });
    }
    const theirs = new Set(online);
    const missing = directory
      .probeMembers()
      .filter((member) => member.online && member.unitId !== sender && !theirs.has(member.unitId) && !this.reconciling.has(member.unitId))
      .map((member) => member.unitId);
    await Promise.all([
      this.catchUp(sender, online),
      ...missing.map(async (unitId) => {
        this.reconciling.add(unitId);
        try {
          await this.checkOwnProbes(unitId, 'it answers no probe (checked when another unit saw it gone)');
        } finally {
          this.reconciling.delete(unitId);
        }
      }),
    ]);
  }

  /** Another unit's word that `unitId` is gone, checked with this unit's own probes: online if it acks, else offline (`why`). */
  private async checkOwnProbes(unitId: string, why: string): Promise<void> {
    const version = await this.prober.verify(unitId);
    if (version !== null) {
      this.options.directory.noteAlive(unitId, version, true);
      this.options.logger?.debug({ unitId }, 'presence: checked a word, and the unit answers');
    } else {
      const outcome = await this.options.directory.probeFailed(unitId, why, 'hearsay');
      this.options.logger?.debug({ unitId, outcome }, 'presence: checked a word, and the unit answers no probe');
    }
  }

  /** "epoch.counter" of this unit's info. */
  version(): string {
    return `${this.epoch}.${this.counter}`;
  }

  /** What GET /info adds: where this unit is probed, and its info's version. */
  infoFields(): { probePort?: number; stateVersion: string } {
    const port = this.options.probePort();
    return port === null ? { stateVersion: this.version() } : { probePort: port, stateVersion: this.version() };
  }

  info(): UnitInfo {
    return { ...this.options.selfInfo(), ...this.infoFields() };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.directory.on('changed', this.onDirectoryChanged);
    this.prober.start();
    this.retryTimer = this.options.clock.setInterval(() => this.payDebts(), this.options.periodMs);
    this.introduceToNewPeers();
  }

  /** Tells the online units that this unit is leaving (so they need not find out by probing), then stops. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.options.directory.off('changed', this.onDirectoryChanged);
    if (this.pushTimer) this.options.clock.clearTimeout(this.pushTimer);
    this.pushTimer = null;
    if (this.goneTimer) this.options.clock.clearTimeout(this.goneTimer);
    this.goneTimer = null;
    this.goneUntold.clear();
    if (this.retryTimer) this.options.clock.clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.prober.stop();
    await Promise.all(this.onlinePeers().map((target) => this.options.client.pushPresence(target, { seen: { unitId: this.options.selfUnitId, online: false } })));
  }

  counters(): ProbeCounters {
    return this.prober.counters();
  }

  /** This unit's users or state changed: its info's version moves, and the new info is pushed shortly. */
  changed(): void {
    this.counter += 1;
    if (this.pushTimer || !this.running) return;
    this.pushTimer = this.options.clock.setTimeout(() => {
      this.pushTimer = null;
      this.tellOnlinePeers({ info: this.info() });
    }, this.options.pushDelayMs ?? 100);
  }

  /** A push from `sender` (its signature checked by the unit routes), received from `host`. */
  async receive(sender: string, push: PresencePush, host: string): Promise<void> {
    const { directory } = this.options;
    if (push.info) await directory.receivePush(sender, push.info, host);
    if (push.online) void (push.sync ? this.reconcile(sender, push.online, push.where) : this.catchUp(sender, push.online));
    const words = wordsOf(push);
    if (words.length > 0) this.options.logger?.debug({ from: sender, words: words.map((word) => `${word.unitId}:${word.online ? 'back' : 'gone'}`) }, 'presence: words about units');
    await Promise.all(
      words.map(async (seen) => {
        if (seen.unitId === this.options.selfUnitId) return;
        if (seen.unitId === sender) {
          if (!seen.online) directory.markOffline(sender, 'it said it is leaving');
          return;
        }
        // Another unit's word about a third: checked with this unit's own probes.
        await this.checkOwnProbes(seen.unitId, 'it answers no probe (checked after another unit found it gone)');
      }),
    );
  }

  /**
   * Units another unit sees online that this one has offline (it was cut off, and so found them
   * all gone): each is pinged now, and shown online if it acks. Its own probes decide, as with
   * any other unit's word.
   */
  private async catchUp(sender: string, online: readonly string[]): Promise<void> {
    const { directory } = this.options;
    const offline = new Set(directory.probeMembers().filter((member) => !member.online).map((member) => member.unitId));
    const toCheck = online.filter((unitId) => unitId !== sender && unitId !== this.options.selfUnitId && offline.has(unitId) && !this.catchingUp.has(unitId));
    await Promise.all(
      toCheck.map(async (unitId) => {
        this.catchingUp.add(unitId);
        try {
          const version = await this.prober.verify(unitId);
          if (version !== null) directory.noteAlive(unitId, version, true);
        } finally {
          this.catchingUp.delete(unitId);
        }
      }),
    );
  }

  /** Tells the site that `unitId` is gone, with the others found gone within `pushDelayMs` of it. */
  private tellGone(unitId: string): void {
    this.goneUntold.add(unitId);
    this.goneTimer ??= this.options.clock.setTimeout(() => {
      this.goneTimer = null;
      // Only those still offline here: one found back meanwhile is not said gone.
      const words = [...this.goneUntold].filter((gone) => this.options.directory.peer(gone)?.online === false).map((gone) => ({ unitId: gone, online: false }));
      this.goneUntold.clear();
      if (words.length === 1) this.tellOnlinePeers({ seen: words[0] });
      else if (words.length > 1) this.tellOnlinePeers({ words });
    }, this.options.pushDelayMs ?? 100);
  }

  private onlinePeers(except?: string): PeerTarget[] {
    return this.options.directory
      .peers()
      .filter((peer) => peer.online && peer.unitId !== except)
      .map((peer) => ({ unitId: peer.unitId, baseUrl: this.options.directory.baseUrlOf(peer.unitId)! }))
      .filter((target) => target.baseUrl !== null);
  }

  private tellOnlinePeers(push: PresencePush, except?: string): void {
    for (const target of this.onlinePeers(except)) void this.send(target, push);
  }

  /** `tries`: how often the words in `push` were tried before (0: said for the first time). */
  private async send(target: PeerTarget, push: PresencePush, tries = 0): Promise<void> {
    const result = await this.options.client.pushPresence(target, push);
    if (result.kind === 'ok') return;
    const words = wordsOf(push).filter((word) => word.unitId !== this.options.selfUnitId);
    // A word about another unit is worth a line when it is lost for good.
    const level = words.length > 0 && tries + 1 >= WORD_TRIES ? 'info' : 'debug';
    this.options.logger?.[level]({ unitId: target.unitId, about: words.map((word) => word.unitId), tries: tries + 1, result: result.kind === 'refused' ? result.error : result.message }, 'presence push not taken');
    if (!this.running || target.unitId === null) return;
    if (push.info) this.owed.add(target.unitId);
    if (tries + 1 >= WORD_TRIES) return;
    if (words.length === 0) return;
    const owed = this.owedWords.get(target.unitId) ?? new Map<string, { online: boolean; tries: number }>();
    for (const word of words) owed.set(word.unitId, { online: word.online, tries: tries + 1 });
    this.owedWords.set(target.unitId, owed);
  }

  /**
   * Pushes that did not arrive are made again to units still online: the info as it is now, and
   * the words this unit still holds (one that is offline here no longer, say, is not said again).
   */
  private payDebts(): void {
    if (this.owed.size === 0 && this.owedWords.size === 0) return;
    const online = new Map(this.onlinePeers().map((target) => [target.unitId, target]));
    const owed = [...this.owed];
    this.owed.clear();
    for (const unitId of owed) {
      const target = online.get(unitId);
      if (target) void this.send(target, { info: this.info() });
    }
    const owedWords = [...this.owedWords];
    this.owedWords.clear();
    for (const [unitId, words] of owedWords) {
      const target = online.get(unitId);
      if (!target) continue;
      const held = [...words].filter(([about, word]) => this.options.directory.peer(about)?.online === word.online);
      if (held.length === 0) continue;
      const tries = Math.max(...held.map(([, word]) => word.tries));
      void this.send(target, { words: held.map(([about, word]) => ({ unitId: about, online: word.online })) }, tries);
    }
  }

  /**
   * A unit newly seen online is probed (directly and through others) until it first acks, a
   * period apart: then its failed probes later mean it is gone. Each round it does not ack, its
   * HTTP is asked (PeerDirectory.probeFailed); one that keeps answering there but never acks is
   * polled over HTTP instead of probed, by every unit that cannot reach its probe address, not only
   * by the one whose successor it is.
   */
  private async greet(unitId: string): Promise<void> {
    const { directory } = this.options;
    if (this.greeting.has(unitId)) return;
    this.greeting.add(unitId);
    try {
      while (this.running) {
        const member = directory.probeMembers().find((candidate) => candidate.unitId === unitId);
        if (!member || !member.online || directory.probeConfirmed(unitId) || this.options.serving?.() === false) return;
        const version = await this.prober.verify(unitId);
        if (version !== null) {
          directory.noteAlive(unitId, version, true);
          return;
        }
        if ((await directory.probeFailed(unitId, 'it has answered no probe since it was found', 'greeting')) !== 'answers-http') return;
        await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, this.options.periodMs));
      }
    } finally {
      this.greeting.delete(unitId);
    }
  }

  /** Every unit that came online (new, or back) is sent this unit's info once. */
  private introduceToNewPeers(): void {
    const peers = this.options.directory.peers();
    // Units forgotten (this unit left its site) are introduced to again should they be found again.
    const known = new Set(peers.map((peer) => peer.unitId));
    for (const unitId of this.introduced) if (!known.has(unitId)) this.introduced.delete(unitId);
    const online = peers.filter((peer) => peer.online).map((peer) => peer.unitId);
    for (const peer of peers) {
      if (!peer.online) {
        this.introduced.delete(peer.unitId);
        continue;
      }
      if (this.introduced.has(peer.unitId)) continue;
      this.introduced.add(peer.unitId);
      void this.greet(peer.unitId);
      const baseUrl = this.options.directory.baseUrlOf(peer.unitId);
      if (baseUrl) void this.send({ unitId: peer.unitId, baseUrl }, { info: this.info(), online: online.filter((unitId) => unitId !== peer.unitId) });
    }
  }
}

/** The words about units a push carries: its `seen`, and those said again together (`words`). */
export function wordsOf(push: PresencePush): NonNullable<PresencePush['words']> {
  return [...(push.seen ? [push.seen] : []), ...(push.words ?? [])];
}
