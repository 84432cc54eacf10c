import { EventEmitter } from 'node:events';
import { randomInt, randomUUID } from 'node:crypto';
import type { Logger } from '../logging/logger.js';
import type { PeerClient, PeerTarget } from '../peers/peer-client.js';
import type { PageOffer, PageOfferAnswer, PageKeyAnswer } from '../peers/peer-protocol.js';
import type { CallKeyExchange, CallKeyShare, CallKeyTranscript } from '../security/call-key-exchange.js';
import { formatSrtpKeyParams, generateSrtpMasterKeys, parseSrtpKeyParams } from '../media/srtp.js';
import { createMediaSender } from '../streaming/stream-setup.js';
import { startFrameClock, type FrameClock } from '../streaming/frame-clock.js';
import { frameSamplesFor } from '../codec/codec.js';
import type { MediaSender } from '../media/media-sender.js';
import { callGainDuring, decidePlayout, type PagePriority, type UnitPlayoutState } from './page-policy.js';
import type { PageMedia } from './page-media.js';

/**
 * Paging: one-way audio from this unit to every unit of a call group at once.
 *
 * The paging unit offers the page to each member unit over the signed unit-to-unit requests, with
 * a fresh ephemeral X25519 public value per member (the call key exchange, bound to the page id
 * and both unit ids). A member decides by the playout policy (page-policy.ts) and answers with its
 * own public value; the page's SRTP key, one fresh key per page, then travels to it sealed under
 * the key the two derived. The page's Opus frames go out once per frame, SRTP-protected, to every
 * member that plays it. A member stops when told, when the page's packets stop coming
 * (silenceTimeoutMs: the paging unit went away), or when an emergency interrupts an announcement.
 */

export type PageSourceEnd = 'source-ended' | 'ended-by-api' | 'interrupted' | 'silence' | 'unit-stopping' | 'no-members';

/** Where a page's audio comes from: frames of 48 kHz mono samples until it returns null. */
export interface PageSource {
  nextFrame(frameSamples: number): Int16Array | null;
  /** Called once when the page ends (lets go of the microphone). */
  close?(): void;
}

/** Most microphone frames held for a live page (the capture and send clocks drift a little apart). */
const MIC_QUEUE_FRAMES = 10;

/** A live page ends by itself after this long (a PAGE button stuck down, a page nobody ended). */
export const MAX_LIVE_PAGE_MS = 5 * 60_000;

/** A live page from the unit's microphone: captured frames, silence while none is there, until closed or MAX_LIVE_PAGE_MS. */
export function microphoneSource(media: PageMedia, frameMs: number): PageSource {
  const queue: Int16Array[] = [];
  let framesLeft = Math.ceil(MAX_LIVE_PAGE_MS / frameMs);
  media.captureForPage((pcm) => {
    queue.push(pcm);
    if (queue.length > MIC_QUEUE_FRAMES) queue.shift();
  });
  return {
    nextFrame: (frameSamples) => {
      if (framesLeft-- <= 0) return null;
      const frame = queue.shift();
      return frame && frame.length === frameSamples ? frame : new Int16Array(frameSamples);
    },
    close: () => media.captureForPage(null),
  };
}

export type MemberOutcome = 'playing' | 'do-not-disturb' | 'page-playing' | 'no-speaker' | 'refused' | 'unreachable' | 'offline' | 'dropped';

export interface PageMemberView {
  unitId: string;
  unitName: string;
  outcome: MemberOutcome;
  /** How the page reaches a member that plays it: multicast, unicast, or (the first moments) both while it is found out. */
  via?: 'multicast' | 'unicast' | 'both';
}

export interface PageView {
  id: string;
  group: string;
  priority: PagePriority;
  direction: 'outgoing' | 'incoming';
  /** The paging unit's name. */
  origin: string;
  phase: 'playing' | 'ended';
  endReason: PageSourceEnd | null;
  /** The member units and how each took the page (outgoing pages only). */
  members: PageMemberView[];
}

export class PageError extends Error {
  constructor(
    readonly code: 'unknown-group' | 'no-members' | 'no-media' | 'page-playing' | 'unknown-page',
    message: string,
  ) {
    super(message);
  }
}

export interface PagingDirectory {
  findUser(name: string): { unitId: string; unitName: string; local: boolean; online: boolean } | null;
  baseUrlOf(unitId: string): string | null;
}

export interface PagingServiceOptions {
  unitId: string;
  unitName: string;
  /** The media engine's paging side; null: this unit can neither send nor play pages. */
  media: PageMedia | null;
  groups: { get(name: string): { name: string; members: string[] } | null };
  directory: PagingDirectory;
  client: Pick<PeerClient, 'pageOffer' | 'pageKey' | 'pageEnd' | 'pageHeard'>;
  keyExchange: Pick<CallKeyExchange, 'newShare'>;
  /** The unit's call and do-not-disturb state, for the playout policy. */
  unitState: () => Pick<UnitPlayoutState, 'call' | 'doNotDisturb'>;
  frameMs: number;
  bitrate: number;
  /** A playing page whose packets stop for this long ends (the paging unit is gone). Default 1500 ms. */
  silenceTimeoutMs?: number;
  /** The site's paging multicast group (paging.multicastAddress, paging.port) when paging.multicast is on; null: unicast only. */
  multicastGroup: { address: string; port: number } | null;
  /** How long a member has to report hearing the multicast stream before it gets unicast (paging.multicastAckMs). */
  multicastAckMs: number;
  /** A member that has not reported hearing the page for this long is dropped (default 3000 ms). */
  memberSilentMs?: number;
  logger: Logger;
}

interface OutgoingPage {
  view: PageView;
  sender: MediaSender;
  source: PageSource;
  clock?: FrameClock;
  /** Where the packets go: each member that plays it. */
  destinations: Map<string, Destination>;
  multicast: boolean;
}

interface Destination {
  target: PeerTarget;
  address: string;
  port: number;
  /** probing: sent both ways until the member reports hearing the multicast stream, or multicastAckMs passes. */
  path: 'probing' | 'multicast' | 'unicast';
  keyedAt: number;
  lastHeardAt: number;
  /** Multicast packets the member counted in its last report. */
  multicastHeard: number;
}

interface IncomingPage {
  view: PageView;
  originUnitId: string;
  originHost: string;
  offer: PageOffer;
  share: CallKeyShare;
  playing: boolean;
  lastReportAt: number | null;
  /** Multicast packets counted in the last report. */
  reportedMulticast: number;
  /** Drops an offer whose key never came, and ends a page that went silent. */
  timer?: NodeJS.Timeout;
  startedAt: number;
}

const OFFER_EXPIRES_MS = 10_000;
/** A member that has had no packet of the page for this long reports it at once (then again as often). */
const STALL_REPORT_MS = 200;
const MAX_RECENT = 20;

export class PagingService extends EventEmitter<{ page: [PageView] }> {
  private outgoingPage: OutgoingPage | null = null;
  private readonly pending = new Map<string, IncomingPage>();
  private incoming: IncomingPage | null = null;
  private readonly recent: PageView[] = [];
  private readonly frameSamples: number;
  private pressed: { released: boolean; pageId: string | null } | null = null;

  constructor(private readonly options: PagingServiceOptions) {
    super();
    this.frameSamples = frameSamplesFor(options.frameMs);
  }

  /** The page this unit sends and the one it plays now, and the last ones that ended. */
  status(): { outgoing: PageView | null; incoming: PageView | null; recent: PageView[] } {
    return { outgoing: this.outgoingPage?.view ?? null, incoming: this.incoming?.playing ? this.incoming.view : null, recent: [...this.recent] };
  }

  /** The priority of the page this unit plays now, for ducking a call that starts meanwhile. */
  get playingPriority(): PagePriority | null {
    return this.incoming?.playing ? this.incoming.view.priority : null;
  }

  /**
   * Pages `groupName`: offers the page to every member unit, keys those that play it, and streams
   * `source` to them until it ends (or endPage()). Resolves once the page runs, with each member's outcome.
   */
  async startPage(groupName: string, priority: PagePriority, source: PageSource): Promise<PageView> {
    const { options } = this;
    const media = options.media;
    if (!media || media.mediaPort === 0) throw new PageError('no-media', 'this unit has no media socket to send a page from');
    const group = options.groups.get(groupName);
    if (!group) throw new PageError('unknown-group', `no group "${groupName}" in the site`);
    if (this.outgoingPage) throw new PageError('page-playing', 'this unit is already paging; end that page first');
    const members = new Map<string, { unitId: string; unitName: string; online: boolean }>();
    for (const name of group.members) {
      const found = options.directory.findUser(name);
      if (!found || found.local || members.has(found.unitId)) continue;
      members.set(found.unitId, found);
    }
    if (members.size === 0) throw new PageError('no-members', `no member of group "${group.name}" is on another unit of the site`);

    const pageId = randomUUID();
    const ssrc = randomInt(1, 2 ** 32 - 1);
    const keys = generateSrtpMasterKeys();
    const keyParams = formatSrtpKeyParams(keys);
    const view: PageView = { id: pageId, group: group.name, priority, direction: 'outgoing', origin: options.unitName, phase: 'playing', endReason: null, members: [] };
    const sender = await createMediaSender({ format: 'rtp-opus', frameMs: options.frameMs, bitrate: options.bitrate }, ssrc, keys);
    const multicastGroup = options.multicastGroup && media.multicast ? options.multicastGroup : null;
    const page: OutgoingPage = { view, sender, source, destinations: new Map(), multicast: multicastGroup !== null };
    this.outgoingPage = page;

    const outcomes = await Promise.all(
      [...members.values()].map(async (member): Promise<PageMemberView> => {
        const base = { unitId: member.unitId, unitName: member.unitName };
        const baseUrl = options.directory.baseUrlOf(member.unitId);
        if (!member.online || !baseUrl) return { ...base, outcome: 'offline' };
        const target = { baseUrl, unitId: member.unitId };
        const share = options.keyExchange.newShare();
        const offer: PageOffer = {
          pageId,
          group: group.name,
          priority,
          originName: options.unitName,
          ssrc,
          frameMs: options.frameMs,
          keyShare: share.publicValue,
          ...(multicastGroup ? { multicast: multicastGroup } : {}),
        };
        const answered = await options.client.pageOffer(target, offer);
        if (answered.kind !== 'ok') return { ...base, outcome: answered.kind === 'refused' ? 'refused' : 'unreachable' };
        if (!answered.value.accepted || !answered.value.keyShare || !answered.value.udpPort) {
          return { ...base, outcome: (answered.value.reason as MemberOutcome | undefined) ?? 'refused' };
        }
        let wrappedKey: string;
        try {
          const sealing = share.agree(answered.value.keyShare, transcriptOf(pageId, options.unitId, member.unitId, share.publicValue, answered.value.keyShare));
          wrappedKey = sealing.seal('caller-to-callee', keyParams);
        } catch (error) {
          options.logger.warn({ pageId, unitId: member.unitId, err: error }, 'page key exchange failed');
          return { ...base, outcome: 'refused' };
        }
        const keyed = await options.client.pageKey(target, pageId, wrappedKey);
        if (keyed.kind !== 'ok') return { ...base, outcome: keyed.kind === 'refused' ? 'refused' : 'unreachable' };
        if (!keyed.value.playing) return { ...base, outcome: (keyed.value.reason as MemberOutcome | undefined) ?? 'refused' };
        const path = multicastGroup && answered.value.multicast ? 'probing' : 'unicast';
        const now = performance.now();
        page.destinations.set(member.unitId, { target, address: new URL(baseUrl).hostname.replace(/^\[|\]$/g, ''), port: answered.value.udpPort, path, keyedAt: now, lastHeardAt: now, multicastHeard: 0 });
        return { ...base, outcome: 'playing', via: path === 'probing' ? 'both' : 'unicast' };
      }),
    );
    view.members = outcomes.sort((a, b) => a.unitName.localeCompare(b.unitName));
    if (this.outgoingPage !== page) return this.snapshot(view);
    options.logger.info({ pageId, group: group.name, priority, members: view.members }, 'page started');
    if (page.destinations.size === 0) {
      this.finishOutgoing(page, 'no-members');
      return this.snapshot(view);
    }
    // The members' time to report hearing the page runs from its first packet.
    const startsAt = performance.now();
    for (const destination of page.destinations.values()) destination.keyedAt = destination.lastHeardAt = startsAt;
    page.clock = startFrameClock(options.frameMs, () => this.sendNextFrame(page));
    this.emit('page', this.snapshot(view));
    return this.snapshot(view);
  }

  /**
   * Press-to-talk (the PAGE button): pressed, a live page of the microphone to `group`; released,
   * it ends, also when the release comes before every member has been keyed.
   */
  press(group: string, priority: PagePriority): void {
    if (!this.options.media || this.pressed) return;
    const pressed = { released: false, pageId: null as string | null };
    this.pressed = pressed;
    this.startMicrophonePage(group, priority).then(
      (page) => {
        pressed.pageId = page.id;
        if (pressed.released && this.outgoingPage?.view.id === page.id) this.endPage(page.id);
      },
      (error: Error) => {
        if (this.pressed === pressed) this.pressed = null;
        this.options.logger.warn({ err: error, group }, 'PAGE: the page could not start');
      },
    );
  }

  release(): void {
    const pressed = this.pressed;
    if (!pressed) return;
    this.pressed = null;
    pressed.released = true;
    if (pressed.pageId && this.outgoingPage?.view.id === pressed.pageId) this.endPage(pressed.pageId);
  }

  /** Pages the unit's microphone live to `group` until endPage() (POST /api/page with microphone: true). */
  async startMicrophonePage(group: string, priority: PagePriority): Promise<PageView> {
    const media = this.options.media;
    if (!media) throw new PageError('no-media', 'this unit has no media to page from');
    const source = microphoneSource(media, this.options.frameMs);
    try {
      return await this.startPage(group, priority, source);
    } catch (error) {
      source.close?.();
      throw error;
    }
  }

  /** Ends this unit's page (POST /api/page/end, the press-to-talk button let go). */
  endPage(pageId?: string): PageView {
    const page = this.outgoingPage;
    if (!page || (pageId !== undefined && page.view.id !== pageId)) throw new PageError('unknown-page', 'this unit is not sending that page');
    this.finishOutgoing(page, 'ended-by-api');
    return this.snapshot(page.view);
  }

  // --- the member's side ---

  /** A page offered by the unit `originUnitId` (signed), reached from `originHost`. */
  receiveOffer(offer: PageOffer, originUnitId: string, originHost: string): PageOfferAnswer {
    const { options } = this;
    const media = options.media;
    if (offer.frameMs !== options.frameMs) return { accepted: false, reason: 'frame-mismatch' };
    const decision = decidePlayout(this.playoutState(), offer.priority);
    if (!decision.play) {
      options.logger.info({ pageId: offer.pageId, priority: offer.priority, from: originUnitId, reason: decision.reason }, 'page refused');
      return { accepted: false, reason: decision.reason };
    }
    const share = options.keyExchange.newShare();
    const entry: IncomingPage = {
      view: { id: offer.pageId, group: offer.group, priority: offer.priority, direction: 'incoming', origin: offer.originName, phase: 'playing', endReason: null, members: [] },
      originUnitId,
      originHost,
      offer,
      share,
      playing: false,
      lastReportAt: null,
      reportedMulticast: 0,
      startedAt: performance.now(),
    };
    const previous = this.pending.get(offer.pageId);
    if (previous) clearTimeout(previous.timer);
    entry.timer = setTimeout(() => this.pending.delete(offer.pageId), OFFER_EXPIRES_MS);
    entry.timer.unref?.();
    this.pending.set(offer.pageId, entry);
    const listens = offer.multicast !== undefined && media!.multicast && sameGroup(offer.multicast, options.multicastGroup);
    return { accepted: true, keyShare: share.publicValue, udpPort: media!.mediaPort, multicast: listens };
  }

  /** The page's key from the unit that offered it: the page plays once it opens. */
  async receiveKey(pageId: string, originUnitId: string, wrappedKey: string): Promise<PageKeyAnswer> {
    const { options } = this;
    const entry = this.pending.get(pageId);
    if (!entry || entry.originUnitId !== originUnitId) throw new PageError('unknown-page', 'no page with this id was offered to this unit by the sender');
    this.pending.delete(pageId);
    clearTimeout(entry.timer);
    // Decided again: another page may have started since the offer.
    const decision = decidePlayout(this.playoutState(), entry.offer.priority);
    if (!decision.play) return { playing: false, reason: decision.reason };
    let keyParams: string;
    try {
      const sealing = entry.share.agree(entry.offer.keyShare, transcriptOf(pageId, originUnitId, options.unitId, entry.offer.keyShare, entry.share.publicValue));
      keyParams = sealing.open('caller-to-callee', wrappedKey);
    } catch (error) {
      options.logger.warn({ pageId, from: originUnitId, err: error }, 'page key did not open; page refused');
      return { playing: false, reason: 'bad-key' };
    }
    const keys = parseSrtpKeyParams(keyParams);
    if (!keys.ok) return { playing: false, reason: 'bad-key' };
    if (this.incoming) this.finishIncoming(this.incoming, 'interrupted');
    this.incoming = entry;
    entry.playing = true;
    entry.startedAt = performance.now();
    await options.media!.playPage({
      pageId,
      fromAddress: entry.originHost,
      ssrc: entry.offer.ssrc,
      keys: keys.keys,
      gain: decision.pageGain,
      callGain: callGainDuring(entry.offer.priority),
    });
    this.watchSilence(entry);
    options.logger.info({ pageId, group: entry.offer.group, priority: entry.offer.priority, from: originUnitId }, 'page playing');
    this.emit('page', this.snapshot(entry.view));
    return { playing: true };
  }

  /** The paging unit ended its page. */
  receiveEnd(pageId: string, originUnitId: string): { ended: boolean } {
    const entry = this.incoming;
    const pending = this.pending.get(pageId);
    if (pending && pending.originUnitId === originUnitId) {
      clearTimeout(pending.timer);
      this.pending.delete(pageId);
    }
    if (!entry || entry.view.id !== pageId || entry.originUnitId !== originUnitId) return { ended: false };
    this.finishIncoming(entry, 'source-ended');
    return { ended: true };
  }

  stop(): void {
    if (this.outgoingPage) this.finishOutgoing(this.outgoingPage, 'unit-stopping');
    if (this.incoming) this.finishIncoming(this.incoming, 'unit-stopping');
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
  }

  private playoutState(): UnitPlayoutState {
    const playing = this.incoming?.playing ? { pageId: this.incoming.view.id, priority: this.incoming.view.priority } : null;
    return { ...this.options.unitState(), playing, sending: this.outgoingPage?.view.priority ?? null, canPlay: this.options.media !== null && this.options.media.mediaPort !== 0 };
  }

  private sendNextFrame(page: OutgoingPage): void {
    if (this.outgoingPage !== page) return;
    let frame: Int16Array | null;
    try {
      frame = page.source.nextFrame(this.frameSamples);
    } catch (error) {
      this.options.logger.error({ err: error, pageId: page.view.id }, 'the page source failed; the page ends');
      frame = null;
    }
    if (frame === null) {
      this.finishOutgoing(page, 'source-ended');
      return;
    }
    const datagram = page.sender.sendFrame(frame);
    const media = this.options.media!;
    const now = performance.now();
    let multicast = false;
    for (const [unitId, destination] of page.destinations) {
      if (now - destination.lastHeardAt > (this.options.memberSilentMs ?? 3000)) {
        this.dropMember(page, unitId, 'it stopped reporting that it hears the page');
        continue;
      }
      if (destination.path === 'probing' && now - destination.keyedAt > this.options.multicastAckMs) {
        destination.path = 'unicast';
        this.setVia(page, unitId, 'unicast');
        this.options.logger.info({ pageId: page.view.id, unitId }, 'page: the member did not hear the multicast stream in time; it gets unicast');
      }
      if (destination.path !== 'unicast') multicast = true;
      if (destination.path !== 'multicast') media.sendPageDatagram(datagram, destination.port, destination.address);
    }
    if (multicast) media.sendPageMulticast(datagram);
  }

  /** A member reports hearing this unit's page (signed by it). */
  receiveHeard(pageId: string, memberUnitId: string, multicastPackets: number): { via: 'multicast' | 'unicast' | 'none' } {
    const page = this.outgoingPage;
    const destination = page?.view.id === pageId ? page.destinations.get(memberUnitId) : undefined;
    if (!page || !destination) return { via: 'none' };
    destination.lastHeardAt = performance.now();
    if (destination.path === 'probing' && multicastPackets > 0) {
      destination.path = 'multicast';
      this.setVia(page, memberUnitId, 'multicast');
    } else if (destination.path === 'multicast' && multicastPackets === destination.multicastHeard) {
      // No multicast packet since its last report (a switch stopped passing the group, the
      // member's Wi-Fi dropped it): unicast from the next frame on, rather than losing the member.
      destination.path = 'unicast';
      this.setVia(page, memberUnitId, 'unicast');
      this.options.logger.info({ pageId, unitId: memberUnitId }, 'page: the member stopped hearing the multicast stream; it gets unicast');
    }
    // A report overtaken by a later one (two requests in flight) says nothing new.
    destination.multicastHeard = Math.max(destination.multicastHeard, multicastPackets);
    return { via: destination.path === 'multicast' ? 'multicast' : 'unicast' };
  }

  private setVia(page: OutgoingPage, unitId: string, via: PageMemberView['via']): void {
    const member = page.view.members.find((entry) => entry.unitId === unitId);
    if (member) member.via = via;
    this.emit('page', this.snapshot(page.view));
  }

  /** A member gone silent no longer gets the page; the others go on. */
  private dropMember(page: OutgoingPage, unitId: string, why: string): void {
    page.destinations.delete(unitId);
    const member = page.view.members.find((entry) => entry.unitId === unitId);
    if (member) {
      member.outcome = 'dropped';
      delete member.via;
    }
    this.options.logger.warn({ pageId: page.view.id, unitId, why }, 'page: member dropped');
    this.emit('page', this.snapshot(page.view));
  }

  private finishOutgoing(page: OutgoingPage, reason: PageSourceEnd): void {
    if (this.outgoingPage !== page) return;
    this.outgoingPage = null;
    page.clock?.stop();
    page.source.close?.();
    page.view.phase = 'ended';
    page.view.endReason = reason;
    const { logger, client } = this.options;
    // Every member is told at once; one that does not answer does not hold up the others.
    for (const [unitId, destination] of page.destinations) {
      void client.pageEnd(destination.target, page.view.id).then((result) => {
        if (result.kind !== 'ok') logger.warn({ pageId: page.view.id, unitId, result: result.kind }, 'could not tell a member unit the page ended (it stops by itself when the packets stop)');
      });
    }
    logger.info({ pageId: page.view.id, reason, packetsSent: page.sender.packetsSent }, 'page ended');
    this.remember(page.view);
  }

  /** While a page plays: reports hearing it to the paging unit about once a second (the first at once), and ends it when its packets stop. */
  private watchSilence(entry: IncomingPage): void {
    const limit = this.options.silenceTimeoutMs ?? 1500;
    const check = () => {
      if (this.incoming !== entry) return;
      const reception = this.options.media!.pageReception(entry.view.id);
      const since = reception?.msSinceLastPacket ?? null;
      const now = performance.now();
      const silentFor = since ?? now - entry.startedAt;
      if (silentFor >= limit) {
        this.finishIncoming(entry, 'silence');
        return;
      }
      // Also at once when the first multicast packet comes: the paging unit waits for it to stop the
      // unicast copy; and soon after the stream stalls, so that a member whose multicast stopped
      // gets unicast well before it gives the page up as silent.
      const multicastNews = reception !== null && reception.multicastPackets > 0 && entry.reportedMulticast === 0;
      const stalled = since !== null && since >= STALL_REPORT_MS && (entry.lastReportAt === null || now - entry.lastReportAt >= STALL_REPORT_MS);
      if (since !== null && (entry.lastReportAt === null || multicastNews || stalled || now - entry.lastReportAt >= 1000)) {
        entry.lastReportAt = now;
        entry.reportedMulticast = reception!.multicastPackets;
        this.reportHeard(entry, reception!.multicastPackets);
      }
      entry.timer = setTimeout(check, entry.lastReportAt === null || entry.reportedMulticast === 0 ? 50 : 250);
      entry.timer.unref?.();
    };
    entry.timer = setTimeout(check, 50);
    entry.timer.unref?.();
  }

  private reportHeard(entry: IncomingPage, multicastPackets: number): void {
    const baseUrl = this.options.directory.baseUrlOf(entry.originUnitId);
    if (!baseUrl) return;
    void this.options.client.pageHeard({ baseUrl, unitId: entry.originUnitId }, entry.view.id, multicastPackets).then((result) => {
      if (result.kind !== 'ok') this.options.logger.debug({ pageId: entry.view.id, result: result.kind }, 'page: could not report hearing it');
    });
  }

  private finishIncoming(entry: IncomingPage, reason: PageSourceEnd): void {
    if (this.incoming !== entry) return;
    this.incoming = null;
    clearTimeout(entry.timer);
    this.options.media?.stopPage(entry.view.id);
    entry.view.phase = 'ended';
    entry.view.endReason = reason;
    this.options.logger.info({ pageId: entry.view.id, reason }, 'page stopped playing');
    this.remember(entry.view);
  }

  private remember(view: PageView): void {
    this.recent.unshift(this.snapshot(view));
    this.recent.length = Math.min(this.recent.length, MAX_RECENT);
    this.emit('page', this.snapshot(view));
  }

  private snapshot(view: PageView): PageView {
    return { ...view, members: view.members.map((member) => ({ ...member })) };
  }
}

function sameGroup(offered: { address: string; port: number }, own: { address: string; port: number } | null): boolean {
  return own !== null && offered.address === own.address && offered.port === own.port;
}

/** The page's key exchange transcript: the call key exchange's, with the page id in the call id's place. */
function transcriptOf(pageId: string, originUnitId: string, memberUnitId: string, originShare: string, memberShare: string): CallKeyTranscript {
  return { callId: `page:${pageId}`, callerUnitId: originUnitId, calleeUnitId: memberUnitId, callerKeyShare: originShare, calleeKeyShare: memberShare };
}
