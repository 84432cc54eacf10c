import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { CallMedia, CallMediaStats, MediaEndpoint } from './call-media.js';
import {
  answer,
  bindGroupCallee,
  groupOutcome,
  decideOffer,
  decideOutgoing,
  end,
  isLive,
  localHangUpReason,
  mutual,
  newCall,
  peerIsLost,
  remoteParty,
  type Call,
  type CallParty,
  type EndReason,
} from './call-state.js';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { Logger } from '../logging/logger.js';
import type { PeerResult, PeerTarget } from '../peers/peer-client.js';
import type { AcceptAnswer, CallOffer, CallStateAnswer, OfferAnswer, WireMedia } from '../peers/peer-protocol.js';
import type { DirectoryEntry } from '../peers/peer-directory.js';
import { CallKeyExchange, type CallKeyShare, type CallKeyTranscript, type CallSealingKeys } from '../security/call-key-exchange.js';

/** Why a call request was refused; app.ts maps each code to an HTTP status. */
export type CallErrorCode =
  | 'unknown-user'
  | 'unknown-call'
  | 'busy'
  | 'same-unit'
  | 'not-callee'
  | 'call-ended'
  | 'media-failed'
  | 'caller-unreachable';

export class CallError extends Error {
  constructor(
    readonly code: CallErrorCode,
    message: string,
    /** The call concerned, when there is one (e.g. the ended call for `call-ended`). */
    readonly call?: CallSnapshot,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

/** A call as shown to API clients, the panel and the event stream. */
export interface CallSnapshot {
  id: string;
  direction: Call['direction'];
  phase: Call['phase'];
  endReason: EndReason | null;
  caller: CallParty & { unitName: string };
  callee: CallParty & { unitName: string };
  /** Wall-clock time the call was placed or offered (ISO 8601). */
  createdAt: string;
  /** How long it rang, then how long it was active (ms). */
  ringingMs: number;
  activeMs: number | null;
  /** The call that replaced this one when both units called each other at once. */
  supersededBy: string | null;
  /** The call group this call was placed to (every member's unit rang), or null. */
  group: string | null;
  /** Live audio figures while active, else null. */
  stats: CallMediaStats | null;
}

/** The unit-to-unit requests the call service makes (PeerClient implements them), each addressed to the peer's unit id. */
export interface CallPeerClient {
  offer(target: PeerTarget, offer: CallOffer): Promise<PeerResult<OfferAnswer>>;
  accept(target: PeerTarget, callId: string, media: WireMedia): Promise<PeerResult<AcceptAnswer>>;
  end(target: PeerTarget, callId: string, reason: EndReason): Promise<PeerResult<CallStateAnswer>>;
  callState(target: PeerTarget, callId: string): Promise<PeerResult<CallStateAnswer>>;
}

/** What the call service needs from the site directory (PeerDirectory implements it). */
export interface CallPeerLocator {
  findUser(name: string): DirectoryEntry | null;
  /** Where the unit answers now, as the unit itself said (see PeerDirectory). */
  baseUrlOf(unitId: string): string | null;
  noteHeardFrom(unitId: string): void;
  /** `baseUrlOf`, or, for a unit not known yet, the address `host:port` once that unit has answered there itself. */
  confirm(unitId: string, host: string, port: number): Promise<string | null>;
}

export interface CallServiceOptions {
  unitId: string;
  unitName: string;
  /** The port this unit's HTTP API listens on (known only after listen), sent with offers. */
  httpPort: () => number;
  media: CallMedia;
  peers: CallPeerLocator;
  /** This unit's users: returns the stored spelling of a name hosted here, or undefined. */
  localUser: (name: string) => string | undefined;
  client: CallPeerClient;
  clock: Clock;
  logger: Logger;
  ringTimeoutMs: number;
  peerLostMs: number;
  /** Asked when an offer would ring here: true answers it busy instead (do-not-disturb is on). */
  refuseOffer?: () => boolean;
  /** How often an active call's liveness is checked (default 250 ms; stats are published about once a second). */
  superviseIntervalMs?: number;
  /** Makes each call's ephemeral X25519 key shares (salted with the site secret). */
  keyExchange: CallKeyExchange;
  newCallId?: () => string;
  wallClock?: () => Date;
  historySize?: number;
  /** The site's call groups (GroupStore fits); absent: `to` is always a user. */
  groups?: { get(name: string): { name: string; members: string[] } | null };
}

/** One member's unit rung by a group call (the caller's side). */
interface GroupLeg {
  unitId: string;
  user: string;
  unitName: string;
  baseUrl: string;
  /** offering: the offer is on its way; ringing; answered: this unit got the call; out: it no longer rings. */
  state: 'offering' | 'ringing' | 'answered' | 'out';
  /** Why it is out (busy, rejected, unreachable, answered-elsewhere, ...). */
  outcome: EndReason | null;
}

export type CallServiceEvents = {
  /** A call changed phase (or appeared). */
  call: [call: CallSnapshot];
  /** About once a second during an active call: its live stats. */
  stats: [call: CallSnapshot];
};

interface CallEntry {
  call: Call;
  remoteUnitName: string;
  localUnitName: string;
  /** Where the peer answered when the call began; requests go to where it answers now (peerTarget). */
  peerBaseUrl: string;
  createdAtIso: string;
  ringTimer: TimerHandle | null;
  /** Last call-specific signaling from the peer (its accept, end or probe; its answer to ours). Directory polls do not count. */
  lastSignalingAt: number;
  localEndpoint: MediaEndpoint | null;
  /** What this unit answered to the peer's accept (the caller's side), so a repeated accept gets the same. */
  localWire: WireMedia | null;
  answering: Promise<CallSnapshot> | null;
  supersededBy: string | null;
  probing: boolean;
  /** This unit's ephemeral X25519 share (caller: from the offer on; callee: from its accept on), dropped once used. */
  keyShare: CallKeyShare | null;
  /** The caller's public value, from its offer (callee's side). */
  callerKeyShare: string | null;
  /** The group this call was placed to (caller's side) or offered as part of (callee's side). */
  group: string | null;
  /** A group call's member units (caller's side only), by unit id; null for a call to one user. */
  legs: Map<string, GroupLeg> | null;
}

/** The host of a base URL, without IPv6 brackets: where the peer's media goes (it answered signed there). */
function hostOf(baseUrl: string): string {
  return new URL(baseUrl).hostname.replace(/^\[|\]$/g, '');
}

/** The media endpoint as it travels: no address (the media goes to the host the peer's signed signaling answers at) and no plain keys. */
function wireOf(endpoint: MediaEndpoint, srtp?: WireMedia['srtp']): WireMedia {
  return { udpPort: endpoint.udpPort, format: endpoint.format, ssrc: endpoint.ssrc, frameMs: endpoint.frameMs, ...(srtp ? { srtp } : {}) };
}

/**
 * Binds signaling to media for this unit: places and answers calls, tells the other unit about
 * every change, starts and stops the media engine, times out ringing and detects a lost peer.
 * At most one call is live at a time (the unit has one microphone and one speaker).
 */
export class CallService extends EventEmitter<CallServiceEvents> {
  private live: CallEntry | null = null;
  private readonly history: CallEntry[] = [];
  private supervisor: TimerHandle | null = null;
  private readonly superviseIntervalMs: number;
  private readonly newCallId: () => string;
  private readonly wallClock: () => Date;
  private readonly historySize: number;
  private readonly keyExchange: CallKeyExchange;
  private lastStatsAt = -Infinity;
  private lastSupervisedAt = -Infinity;

  constructor(private readonly options: CallServiceOptions) {
    super();
    this.superviseIntervalMs = options.superviseIntervalMs ?? 250;
    this.keyExchange = options.keyExchange;
    this.newCallId = options.newCallId ?? randomUUID;
    this.wallClock = options.wallClock ?? (() => new Date());
    this.historySize = options.historySize ?? 20;
  }

  // ---- queries ---------------------------------------------------------------------------------

  /** The live call (ringing or active), if any. */
  current(): CallSnapshot | null {
    return this.live ? this.snapshot(this.live) : null;
  }

  /** The live call first, then recently ended calls, newest first. */
  list(): CallSnapshot[] {
    return [...(this.live ? [this.live] : []), ...this.history].map((entry) => this.snapshot(entry));
  }

  get(callId: string): CallSnapshot | null {
    const entry = this.find(callId);
    return entry ? this.snapshot(entry) : null;
  }

  /** Calls ringing for `user` on this unit (what the original GET /api/signal/incoming returned). */
  incomingFor(user: string): CallSnapshot[] {
    const key = user.toLowerCase();
    const live = this.live;
    if (!live || live.call.direction !== 'incoming' || live.call.phase !== 'ringing') return [];
    return live.call.callee.user.toLowerCase() === key ? [this.snapshot(live)] : [];
  }

  get inCall(): boolean {
    return isLive(this.live?.call);
  }

  // ---- requests from this unit's users ---------------------------------------------------------

  /** `from` (a user on this unit) calls `to` (a user anywhere on the site). */
  async initiate(from: string, to: string): Promise<CallSnapshot> {
    const { options } = this;
    const callerName = options.localUser(from);
    if (!callerName) throw new CallError('unknown-user', `no user "${from}" on this unit`);
    const target = options.peers.findUser(to);
    if (!target) {
      const group = options.groups?.get(to);
      if (group) return this.initiateGroup(callerName, group);
      throw new CallError('unknown-user', `no user or group "${to}" in the site`);
    }
    if (target.local) throw new CallError('same-unit', `"${callerName}" and "${target.name}" are both on this unit`);
    const caller: CallParty = { user: callerName, unitId: options.unitId };
    const callee: CallParty = { user: target.name, unitId: target.unitId };

    const decision = decideOutgoing(this.live?.call ?? null, { caller, callee });
    if (decision.kind === 'busy') throw new CallError('busy', 'this unit is already in a call', this.get(decision.liveCallId) ?? undefined);
    if (decision.kind === 'answer-existing') return this.accept(decision.callId);

    const now = options.clock.now();
    const entry = this.admit({
      call: newCall({ id: this.newCallId(), direction: 'outgoing', caller, callee, now }),
      remoteUnitName: target.unitName,
      peerBaseUrl: options.peers.baseUrlOf(target.unitId) ?? '',
    });
    if (!target.online || !entry.peerBaseUrl) {
      this.finish(entry, 'unreachable', { notifyPeer: false });
      return this.snapshot(entry);
    }
    // An encrypting unit offers its half of the call's key exchange; the private half stays here.
    if (options.media.audioState().encrypted) entry.keyShare = this.keyExchange.newShare();

    const result = await options.client.offer(this.peerTarget(entry), {
      callId: entry.call.id,
      caller: { user: caller.user, unitId: caller.unitId, unitName: options.unitName, httpPort: options.httpPort() },
      callee: { user: callee.user },
      ...(entry.keyShare ? { keyShare: entry.keyShare.publicValue } : {}),
    });
    if (result.kind === 'ok') entry.lastSignalingAt = options.clock.now();

    if (!isLive(entry.call)) {
      // Ended (or superseded by glare) while the offer was on its way: make sure the peer stops ringing.
      if (result.kind === 'ok' && result.value.result === 'ringing' && entry.call.endReason) {
        void this.notifyPeer(entry, entry.call.endReason);
      }
      return this.afterGlare(entry);
    }
    if (result.kind === 'ok') {
      if (result.value.result === 'busy') this.finish(entry, 'busy', { notifyPeer: false });
      if (result.value.result === 'glare-lost') {
        entry.supersededBy = result.value.winningCallId ?? null;
        this.finish(entry, 'busy', { notifyPeer: false });
        return this.afterGlare(entry);
      }
    } else if (result.kind === 'refused' && result.error === 'unknown-user') {
      // Our directory was stale: the user has left that unit. Nothing rang, so forget the call.
      this.discard(entry);
      throw new CallError('unknown-user', `no user "${to}" on unit "${target.unitName}" any more`);
    } else {
      options.logger.warn({ callId: entry.call.id, result }, 'call offer failed');
      // No answer (a timeout) does not mean the offer did not arrive: the callee may be ringing.
      this.finish(entry, 'unreachable', { notifyPeer: result.kind === 'unreachable' });
    }
    return this.snapshot(entry);
  }

  /**
   * Calls a group: one call as the caller sees it, offered at once to one member on each member's
   * unit (a unit rings once, however many members it hosts). The first unit to accept becomes the
   * callee; every other is told `answered-elsewhere`. Members on the caller's own unit are not rung
   * (it has one speaker and it is placing the call). When no unit rings any more the call ends
   * (groupOutcome); when nobody answers, the caller's ring timeout ends it everywhere.
   */
  private async initiateGroup(callerName: string, group: { name: string; members: string[] }): Promise<CallSnapshot> {
    const { options } = this;
    const legs = new Map<string, GroupLeg>();
    let onThisUnit = 0;
    for (const member of group.members) {
      const found = options.peers.findUser(member);
      if (!found) continue;
      if (found.local) {
        onThisUnit++;
        continue;
      }
      if (legs.has(found.unitId)) continue;
      const baseUrl = options.peers.baseUrlOf(found.unitId) ?? '';
      const reachable = found.online && baseUrl !== '';
      legs.set(found.unitId, { unitId: found.unitId, user: found.name, unitName: found.unitName, baseUrl, state: reachable ? 'offering' : 'out', outcome: reachable ? null : 'unreachable' });
    }
    if (legs.size === 0 && onThisUnit > 0) throw new CallError('same-unit', `every member of group "${group.name}" is on this unit`);
    if (legs.size === 0) throw new CallError('unknown-user', `no member of group "${group.name}" is a user of the site now`);
    const caller: CallParty = { user: callerName, unitId: options.unitId };
    const callee: CallParty = { user: group.name, unitId: '' };
    const decision = decideOutgoing(this.live?.call ?? null, { caller, callee });
    if (decision.kind !== 'start') {
      const liveId = decision.kind === 'busy' ? decision.liveCallId : decision.callId;
      throw new CallError('busy', 'this unit is already in a call', this.get(liveId) ?? undefined);
    }
    const entry = this.admit(
      { call: newCall({ id: this.newCallId(), direction: 'outgoing', caller, callee, now: options.clock.now() }), remoteUnitName: group.name, peerBaseUrl: '' },
      { group: group.name, legs },
    );
    if (options.media.audioState().encrypted) entry.keyShare = this.keyExchange.newShare();
    await Promise.all([...legs.values()].filter((leg) => leg.state === 'offering').map((leg) => this.offerLeg(entry, leg)));
    this.settleGroup(entry);
    return this.snapshot(entry);
  }

  private async offerLeg(entry: CallEntry, leg: GroupLeg): Promise<void> {
    const { options } = this;
    const result = await options.client.offer(this.legTarget(leg), {
      callId: entry.call.id,
      caller: { user: entry.call.caller.user, unitId: options.unitId, unitName: options.unitName, httpPort: options.httpPort() },
      callee: { user: leg.user },
      ...(entry.keyShare ? { keyShare: entry.keyShare.publicValue } : {}),
      ...(entry.group ? { group: entry.group } : {}),
    });
    if (result.kind === 'ok') {
      options.peers.noteHeardFrom(leg.unitId);
      if (result.value.result === 'ringing') {
        if (leg.state === 'offering' && entry.call.phase === 'ringing') {
          leg.state = 'ringing';
        } else if (leg.state !== 'answered' && leg.state !== 'ringing') {
          // It rings, but the call was answered elsewhere or ended while the offer travelled: stop it.
          void this.endLeg(entry, leg, leg.outcome ?? (isLive(entry.call) ? 'answered-elsewhere' : (entry.call.endReason ?? 'hung-up')));
        }
        return;
      }
      // busy (in a call, do-not-disturb) or glare-lost (it is calling us): this unit does not ring.
      this.legOut(leg, 'busy');
    } else if (result.kind === 'refused') {
      this.legOut(leg, 'unreachable');
    } else {
      options.logger.warn({ callId: entry.call.id, unitId: leg.unitId, result }, 'group call offer failed');
      // The offer may have arrived even so (a timeout): tell that unit to stop.
      const wasOffering = leg.state === 'offering';
      this.legOut(leg, 'unreachable');
      if (wasOffering) void this.endLeg(entry, leg, 'unreachable', false);
    }
    if (result.kind !== 'ok' || result.value.result !== 'ringing') this.settleGroup(entry);
  }

  private legOut(leg: GroupLeg, reason: EndReason): void {
    if (leg.state === 'answered' || leg.state === 'out') return;
    leg.state = 'out';
    leg.outcome = reason;
  }

  /** Tells one member's unit the group call is over for it. */
  private async endLeg(entry: CallEntry, leg: GroupLeg, reason: EndReason, markOut = true): Promise<void> {
    if (markOut) this.legOut(leg, reason);
    const result = await this.options.client.end(this.legTarget(leg), entry.call.id, reason);
    if (result.kind === 'unreachable') this.options.logger.warn({ callId: entry.call.id, unitId: leg.unitId, message: result.message }, 'could not tell a member unit the group call ended');
  }

  /** A ringing group call with no member unit left ringing (or about to) ends. */
  private settleGroup(entry: CallEntry): void {
    if (!entry.legs || entry.call.phase !== 'ringing' || entry.call.callee.unitId !== '') return;
    const legs = [...entry.legs.values()];
    if (legs.some((leg) => leg.state === 'offering' || leg.state === 'ringing')) return;
    this.finish(entry, groupOutcome(legs.map((leg) => leg.outcome ?? 'unreachable')), { notifyPeer: false });
  }

  private legTarget(leg: GroupLeg): PeerTarget {
    return { baseUrl: this.options.peers.baseUrlOf(leg.unitId) ?? leg.baseUrl, unitId: leg.unitId };
  }

  /**
   * A member's unit accepted a ringing group call: it becomes the callee, and every other member
   * unit is told `answered-elsewhere`. Any later acceptor is refused with the call as it sees it.
   */
  private claimGroupCall(entry: CallEntry, fromUnitId: string): void {
    const legs = entry.legs!;
    const leg = legs.get(fromUnitId)!;
    if (entry.call.callee.unitId === '' && entry.call.phase === 'ringing' && (leg.state === 'offering' || leg.state === 'ringing')) {
      const bound = bindGroupCallee(entry.call, { user: leg.user, unitId: leg.unitId });
      if (bound.ok) {
        entry.call = bound.call;
        entry.remoteUnitName = leg.unitName;
        entry.peerBaseUrl = leg.baseUrl;
        leg.state = 'answered';
        for (const other of legs.values()) {
          if (other.state === 'ringing') void this.endLeg(entry, other, 'answered-elsewhere');
          // Its offer is still on the way: offerLeg stops it once it rings.
          else if (other.state === 'offering') this.legOut(other, 'answered-elsewhere');
        }
      }
    }
    if (entry.call.callee.unitId !== fromUnitId) {
      const answeredElsewhere = isLive(entry.call) && entry.call.callee.unitId !== '';
      const seen: CallSnapshot = { ...this.snapshot(entry), phase: 'ended', endReason: answeredElsewhere ? 'answered-elsewhere' : (entry.call.endReason ?? leg.outcome ?? 'hung-up') };
      throw new CallError('call-ended', answeredElsewhere ? 'another member of the group answered first' : 'the group call has ended', seen);
    }
  }

  /** Answers a call ringing on this unit: exchanges media endpoints with the caller and starts audio. */
  accept(callId: string): Promise<CallSnapshot> {
    const entry = this.requireLive(callId);
    if (entry.call.direction !== 'incoming') {
      throw new CallError('not-callee', 'only the unit being called can accept a call', this.snapshot(entry));
    }
    if (entry.call.phase === 'active') return Promise.resolve(this.snapshot(entry));
    entry.answering ??= this.answerIncoming(entry).finally(() => {
      entry.answering = null;
    });
    return entry.answering;
  }

  /** Hangs up (or rejects, or cancels) a call from this unit; ending an ended call is a no-op. */
  end(callId: string): CallSnapshot {
    const entry = this.find(callId);
    if (!entry) throw new CallError('unknown-call', `no call "${callId}"`);
    if (isLive(entry.call)) this.finish(entry, localHangUpReason(entry.call), { notifyPeer: true });
    return this.snapshot(entry);
  }

  // ---- requests from other units (see src/signaling/unit-routes.ts) -----------------------------

  /**
   * Another unit offers a call to one of our users. `from` is the unit that sent the request (as
   * its signature proved) and the address it came from, where a unit this one does not know yet is
   * asked to confirm itself (its answer, signed there, makes it the unit's address).
   */
  async handleOffer(offer: CallOffer, from: { unitId: string; host: string }): Promise<OfferAnswer> {
    const { options } = this;
    if (from.unitId !== offer.caller.unitId) throw new CallError('unknown-user', 'the offer names another unit as the caller');
    const calleeName = options.localUser(offer.callee.user);
    if (!calleeName) throw new CallError('unknown-user', `no user "${offer.callee.user}" on this unit`);
    const callerBaseUrl = await options.peers.confirm(offer.caller.unitId, from.host, offer.caller.httpPort);
    if (!callerBaseUrl) {
      throw new CallError('caller-unreachable', 'this unit cannot reach the calling unit at the address its offer came from (it must answer there itself)');
    }
    options.peers.noteHeardFrom(offer.caller.unitId);
    const caller: CallParty = { user: offer.caller.user, unitId: offer.caller.unitId };
    const callee: CallParty = { user: calleeName, unitId: options.unitId };

    const decision = decideOffer(this.live?.call ?? null, { callId: offer.callId, caller, callee });
    let autoAnswer = false;
    switch (decision.kind) {
      case 'duplicate':
        return { result: 'ringing' };
      case 'busy':
        return { result: 'busy' };
      case 'glare-lost':
        return { result: 'glare-lost', winningCallId: decision.winningCallId };
      case 'glare-won': {
        const superseded = this.live!;
        superseded.supersededBy = offer.callId;
        this.finish(superseded, 'busy', { notifyPeer: false });
        autoAnswer = decision.autoAnswer;
        break;
      }
      case 'ring': {
        // Our own offer may already have been refused as the glare loser, naming this call the winner.
        const superseded = this.history.find((entry) => entry.supersededBy === offer.callId);
        autoAnswer = !!superseded && mutual(superseded.call, { caller, callee });
        if (!autoAnswer && options.refuseOffer?.()) return this.answerBusy(offer.callId, caller, callee, offer.caller.unitName);
        break;
      }
    }
    const now = options.clock.now();
    const entry = this.admit({
      call: newCall({ id: offer.callId, direction: 'incoming', caller, callee, now }),
      remoteUnitName: offer.caller.unitName,
      peerBaseUrl: callerBaseUrl,
    }, { callerKeyShare: offer.keyShare ?? null, group: offer.group ?? null });
    if (autoAnswer) {
      // Both people asked to talk to each other: connect at once rather than ring back.
      setImmediate(() => {
        if (this.live === entry) this.accept(entry.call.id).catch((error) => options.logger.warn({ err: error }, 'auto-answer after glare failed'));
      });
    }
    return { result: 'ringing' };
  }

  /**
   * The unit we called (`fromUnitId`, as its signature proved) has accepted: open its sealed keys,
   * start media towards it, and answer with our endpoint and our keys sealed for it.
   */
  handleRemoteAccept(callId: string, remoteMedia: WireMedia, fromUnitId: string): AcceptAnswer {
    const entry = this.findWithPeer(callId, fromUnitId);
    if (entry.call.direction !== 'outgoing') throw new CallError('not-callee', 'this unit is the one being called');
    if (!isLive(entry.call)) throw new CallError('call-ended', `call already ended (${entry.call.endReason})`, this.snapshot(entry));
    if (entry.legs) this.claimGroupCall(entry, fromUnitId);
    this.heardFromPeer(entry);
    if (entry.call.phase === 'active' && entry.localWire) return { media: entry.localWire };
    const local = this.options.media.prepare(callId);
    entry.localEndpoint = local;
    try {
      const { remote, localWire } = this.callerKeys(entry, local, remoteMedia);
      this.goActive(entry, remote);
      entry.localWire = localWire;
      return { media: localWire };
    } catch (error) {
      this.options.logger.error({ err: error, callId }, 'media failed to start');
      this.finish(entry, 'media-failed', { notifyPeer: false });
      throw new CallError('media-failed', 'this unit could not start audio', this.snapshot(entry));
    }
  }

  /** The other unit ended the call. */
  handleRemoteEnd(callId: string, reason: EndReason, fromUnitId: string): CallStateAnswer {
    const entry = this.findWithPeer(callId, fromUnitId);
    const leg = entry.legs?.get(fromUnitId);
    if (leg && entry.call.callee.unitId !== fromUnitId) {
      // One member's unit stopped ringing (refused, timed out, do-not-disturb): the others ring on.
      this.options.peers.noteHeardFrom(fromUnitId);
      this.legOut(leg, reason);
      this.settleGroup(entry);
      return this.legState(entry, leg);
    }
    this.heardFromPeer(entry);
    if (isLive(entry.call)) this.finish(entry, reason, { notifyPeer: false });
    return this.stateOf(entry);
  }

  /** The other unit asks whether we still have the call (its peer-lost probe). */
  handleStateQuery(callId: string, fromUnitId: string): CallStateAnswer {
    const entry = this.findWithPeer(callId, fromUnitId);
    const leg = entry.legs?.get(fromUnitId);
    if (leg && entry.call.callee.unitId !== fromUnitId) return this.legState(entry, leg);
    this.heardFromPeer(entry);
    return this.stateOf(entry);
  }

  /** Ends any live call (as hung up, telling the peer) and stops the timers; for shutdown. */
  async stop(): Promise<void> {
    const entry = this.live;
    this.stopSupervisor();
    if (!entry) return;
    this.finish(entry, 'hung-up', { notifyPeer: false });
    await this.notifyPeer(entry, 'hung-up');
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Answers an offer busy without ringing, and keeps it in the history as a call that ended busy. */
  private answerBusy(callId: string, caller: CallParty, callee: CallParty, remoteUnitName: string): OfferAnswer {
    if (this.find(callId)) return { result: 'busy' };
    const now = this.options.clock.now();
    const ended = end(newCall({ id: callId, direction: 'incoming', caller, callee, now }), 'busy', now);
    if (!ended.ok) return { result: 'busy' };
    const entry = this.newEntry({ call: ended.call, remoteUnitName, peerBaseUrl: '' });
    this.history.unshift(entry);
    this.history.length = Math.min(this.history.length, this.historySize);
    this.options.logger.info({ callId, caller, callee }, 'call answered busy: do-not-disturb is on');
    this.emit('call', this.snapshot(entry));
    return { result: 'busy' };
  }

  private async answerIncoming(entry: CallEntry): Promise<CallSnapshot> {
    const { options } = this;
    const callId = entry.call.id;
    let local: MediaEndpoint;
    let wire: WireMedia;
    let sealing: CallSealingKeys | null;
    try {
      local = options.media.prepare(callId);
    } catch (error) {
      options.logger.error({ err: error, callId }, 'media could not be prepared');
      throw new CallError('media-failed', 'this unit could not prepare audio', this.snapshot(entry));
    }
    entry.localEndpoint = local;
    try {
      ({ wire, sealing } = this.calleeKeys(entry, local));
    } catch (error) {
      // The two units cannot agree on keys (one requires SRTP, the other sends plain RTP): no retry can help.
      options.logger.error({ err: error, callId }, 'call audio cannot be keyed');
      this.finish(entry, 'media-failed', { notifyPeer: true });
      throw new CallError('media-failed', `this unit could not start audio: ${(error as Error).message}`, this.snapshot(entry));
    }
    const result = await options.client.accept(this.peerTarget(entry), callId, wire);
    if (!isLive(entry.call)) {
      // Hung up, or the caller gave up, while the accept was on its way.
      options.media.stop(callId);
      return this.snapshot(entry);
    }
    if (result.kind === 'ok') {
      this.heardFromPeer(entry);
      try {
        this.goActive(entry, this.remoteEndpoint(entry, result.value.media, sealing, 'caller-to-callee'));
      } catch (error) {
        options.logger.error({ err: error, callId }, 'media failed to start');
        this.finish(entry, 'media-failed', { notifyPeer: true });
        throw new CallError('media-failed', 'this unit could not start audio', this.snapshot(entry));
      }
      return this.snapshot(entry);
    }
    if (result.kind === 'refused' && result.error === 'call-ended') {
      const reason = (result.body as { call?: { endReason?: EndReason } })?.call?.endReason;
      this.finish(entry, reason ?? 'unreachable', { notifyPeer: false });
    } else if (result.kind === 'refused' && result.error === 'media-failed') {
      // The caller could not start audio with what this unit offered (and has ended the call).
      this.finish(entry, 'media-failed', { notifyPeer: false });
    } else {
      options.logger.warn({ callId, result }, 'accept did not reach the caller');
      this.finish(entry, 'unreachable', { notifyPeer: result.kind === 'refused' });
    }
    return this.snapshot(entry);
  }

  /** A group call as one member's unit sees it: ringing while it rings, else ended with why it stopped there. */
  private legState(entry: CallEntry, leg: GroupLeg): CallStateAnswer {
    if (entry.call.phase === 'ringing' && leg.state !== 'out') return this.stateOf(entry);
    const endReason = leg.state === 'out' ? (leg.outcome ?? 'hung-up') : (entry.call.endReason ?? 'answered-elsewhere');
    return { callId: entry.call.id, phase: 'ended', endReason };
  }

  private newEntry(fields: Pick<CallEntry, 'call' | 'remoteUnitName' | 'peerBaseUrl'>): CallEntry {
    return {
      ...fields,
      localUnitName: this.options.unitName,
      createdAtIso: this.wallClock().toISOString(),
      ringTimer: null,
      lastSignalingAt: this.options.clock.now(),
      localEndpoint: null,
      localWire: null,
      answering: null,
      supersededBy: null,
      probing: false,
      keyShare: null,
      callerKeyShare: null,
      group: null,
      legs: null,
    };
  }

  /** `extra` is part of the entry before anyone hears of the call: the 'call' event carries it. */
  private admit(fields: Pick<CallEntry, 'call' | 'remoteUnitName' | 'peerBaseUrl'>, extra: Partial<Pick<CallEntry, 'group' | 'legs' | 'callerKeyShare'>> = {}): CallEntry {
    const { options } = this;
    const entry = Object.assign(this.newEntry(fields), extra);
    entry.ringTimer = options.clock.setTimeout(() => {
      entry.ringTimer = null;
      if (entry.call.phase === 'ringing') this.finish(entry, 'ring-timeout', { notifyPeer: true });
    }, options.ringTimeoutMs);
    this.live = entry;
    options.logger.info(
      { callId: entry.call.id, direction: entry.call.direction, caller: entry.call.caller, callee: entry.call.callee },
      'call ringing',
    );
    this.emit('call', this.snapshot(entry));
    return entry;
  }

  private goActive(entry: CallEntry, remote: MediaEndpoint): void {
    const transition = answer(entry.call, this.options.clock.now());
    if (!transition.ok) throw new CallError('call-ended', transition.problem, this.snapshot(entry));
    this.options.media.start(entry.call.id, remote);
    entry.call = transition.call;
    // Liveness counts from here: the peer's media has had no chance to arrive before.
    entry.lastSignalingAt = this.options.clock.now();
    this.clearRingTimer(entry);
    // The endpoint's crypto carries the peer's SRTP key: log only which suite is in use.
    const { crypto, ...endpoint } = remote;
    this.options.logger.info({ callId: entry.call.id, remote: { ...endpoint, crypto: crypto?.suite ?? 'none' } }, 'call active');
    this.emit('call', this.snapshot(entry));
    this.startSupervisor();
    // The codecs load after start() returned: a call whose audio cannot run is ended on both
    // sides, not left active in silence.
    const callId = entry.call.id;
    this.options.media.whenStarted(callId).catch((error: Error) => {
      if (entry.call.phase !== 'active') return;
      this.options.logger.error({ err: error, callId }, 'call audio could not start: ending the call');
      this.finish(entry, 'media-failed', { notifyPeer: true });
    });
  }

  private finish(entry: CallEntry, reason: EndReason, how: { notifyPeer: boolean }): void {
    const transition = end(entry.call, reason, this.options.clock.now());
    if (!transition.ok || !transition.changed) return;
    entry.call = transition.call;
    entry.keyShare = null;
    this.clearRingTimer(entry);
    if (entry.localEndpoint) this.options.media.stop(entry.call.id);
    if (this.live === entry) {
      this.live = null;
      this.stopSupervisor();
    }
    this.history.unshift(entry);
    this.history.length = Math.min(this.history.length, this.historySize);
    this.options.logger.info({ callId: entry.call.id, reason }, 'call ended');
    this.emit('call', this.snapshot(entry));
    if (how.notifyPeer) void this.notifyPeer(entry, reason);
  }

  /** Removes a call that never really existed (the callee was not where the directory said). */
  private discard(entry: CallEntry): void {
    this.clearRingTimer(entry);
    if (this.live === entry) this.live = null;
    const ended = end(entry.call, 'unreachable', this.options.clock.now());
    if (ended.ok) entry.call = ended.call;
    this.emit('call', this.snapshot(entry));
  }

  private async notifyPeer(entry: CallEntry, reason: EndReason): Promise<void> {
    if (entry.legs && entry.call.callee.unitId === '') {
      // A group call nobody answered: every member unit still ringing stops (those whose offer is on its way stop once it rings).
      const ringing = [...entry.legs.values()].filter((leg) => leg.state === 'ringing' || leg.state === 'offering');
      await Promise.all(ringing.map((leg) => (leg.state === 'ringing' ? this.endLeg(entry, leg, reason) : Promise.resolve(this.legOut(leg, reason)))));
      return;
    }
    if (!entry.peerBaseUrl) return;
    const result = await this.options.client.end(this.peerTarget(entry), entry.call.id, reason);
    if (result.kind === 'unreachable') {
      this.options.logger.warn({ callId: entry.call.id, message: result.message }, 'could not tell the peer the call ended');
    }
  }

  /** After our own call was superseded by glare, the caller wants to see the call that survived. */
  private async afterGlare(entry: CallEntry): Promise<CallSnapshot> {
    const winner = entry.supersededBy;
    if (!winner) return this.snapshot(entry);
    const already = this.find(winner);
    if (already) return this.snapshot(already);
    // The winning offer is on its way to us; wait for it briefly rather than report a lost call.
    return new Promise((resolve) => {
      const timer = this.options.clock.setTimeout(() => {
        this.off('call', onCall);
        resolve(this.snapshot(entry));
      }, this.options.ringTimeoutMs);
      const onCall = (call: CallSnapshot) => {
        if (call.id !== winner) return;
        this.options.clock.clearTimeout(timer);
        this.off('call', onCall);
        resolve(call);
      };
      this.on('call', onCall);
    });
  }

  private heardFromPeer(entry: CallEntry): void {
    entry.lastSignalingAt = this.options.clock.now();
    this.options.peers.noteHeardFrom(remoteParty(entry.call).unitId);
  }

  private clearRingTimer(entry: CallEntry): void {
    if (entry.ringTimer) this.options.clock.clearTimeout(entry.ringTimer);
    entry.ringTimer = null;
  }

  private startSupervisor(): void {
    if (this.supervisor) return;
    this.lastSupervisedAt = this.options.clock.now();
    this.supervisor = this.options.clock.setInterval(() => this.supervise(), this.superviseIntervalMs);
  }

  private stopSupervisor(): void {
    if (this.supervisor) this.options.clock.clearInterval(this.supervisor);
    this.supervisor = null;
  }

  /**
   * Several times a second during an active call: end it when the peer is lost, probe a silent
   * peer, and about once a second publish the stats. Liveness is the call's own: its audio (only
   * packets that authenticate count) and signaling about this call. Directory polls do not count:
   * a unit that answers them may have lost the call, or its media may not get through.
   */
  private supervise(): void {
    const entry = this.live;
    if (!entry || entry.call.phase !== 'active') return this.stopSupervisor();
    const { options } = this;
    const now = options.clock.now();
    // A late tick means this unit itself stood still (an overloaded board, a long GC pause): the
    // peer's packets of that time wait in the socket, read after the timers. Judge on the next tick.
    const late = now - this.lastSupervisedAt > 2 * this.superviseIntervalMs;
    this.lastSupervisedAt = now;
    if (late) return;
    const stats = options.media.stats(entry.call.id);
    if (peerIsLost({ call: entry.call, now, msSinceLastPacket: stats?.msSinceLastPacket ?? null, lastSignalingAt: entry.lastSignalingAt, peerLostMs: options.peerLostMs })) {
      options.logger.warn({ callId: entry.call.id, peerLostMs: options.peerLostMs }, 'no audio and no call signaling from the peer: ending the call');
      this.finish(entry, 'peer-lost', { notifyPeer: true });
      return;
    }
    if (now - this.lastStatsAt >= 1000) {
      this.lastStatsAt = now;
      this.emit('stats', this.snapshot(entry));
    }
    const audioSilentMs = stats?.msSinceLastPacket ?? now - (entry.call.answeredAt ?? now);
    if (audioSilentMs >= Math.min(1000, options.peerLostMs / 2)) void this.probe(entry);
  }

  /**
   * Asks a silent peer whether it still has the call, where it answers now. A peer that restarted
   * answers "unknown call" even though it is reachable; that ends the call at once instead of at
   * peerLostMs.
   */
  private async probe(entry: CallEntry): Promise<void> {
    if (entry.probing) return;
    entry.probing = true;
    const result = await this.options.client.callState(this.peerTarget(entry), entry.call.id);
    entry.probing = false;
    if (!isLive(entry.call)) return;
    if (result.kind === 'ok') {
      this.heardFromPeer(entry);
      if (result.value.phase === 'ended') this.finish(entry, result.value.endReason ?? 'peer-lost', { notifyPeer: false });
    } else if (result.kind === 'refused' && result.error === 'unknown-call') {
      this.finish(entry, 'peer-lost', { notifyPeer: false });
    }
  }

  /** The peer's unit id and where it answers now (its own signed word moves it; see PeerDirectory). */
  private peerTarget(entry: CallEntry): PeerTarget {
    const unitId = remoteParty(entry.call).unitId;
    return { baseUrl: this.options.peers.baseUrlOf(unitId) ?? entry.peerBaseUrl, unitId };
  }

  /** A call this unit has with `fromUnitId`; any other unit is told there is no such call. */
  private findWithPeer(callId: string, fromUnitId: string): CallEntry {
    const entry = this.find(callId);
    if (!entry || (remoteParty(entry.call).unitId !== fromUnitId && !entry.legs?.has(fromUnitId))) throw new CallError('unknown-call', `no call "${callId}"`);
    return entry;
  }

  private transcript(entry: CallEntry, callerKeyShare: string, calleeKeyShare: string): CallKeyTranscript {
    return { callId: entry.call.id, callerUnitId: entry.call.caller.unitId, calleeUnitId: entry.call.callee.unitId, callerKeyShare, calleeKeyShare };
  }

  /**
   * The peer's media endpoint for the media engine: the address is the host the peer's signed
   * signaling answers at (never where a request seemed to come from), and its SRTP keys are opened
   * from their seal. Plain RTP on one side only is left to the media engine to refuse.
   */
  private remoteEndpoint(entry: CallEntry, wire: WireMedia, sealing: CallSealingKeys | null, direction: 'caller-to-callee' | 'callee-to-caller'): MediaEndpoint {
    const remote: MediaEndpoint = { address: hostOf(this.peerTarget(entry).baseUrl), udpPort: wire.udpPort, format: wire.format, ssrc: wire.ssrc, frameMs: wire.frameMs };
    if (!wire.srtp) return remote;
    if (!sealing) throw new Error('the peer sends SRTP keys but this unit is configured for plain RTP (audio.srtp is false)');
    return { ...remote, crypto: { suite: wire.srtp.suite, keyParams: sealing.open(direction, wire.srtp.wrappedKey) } };
  }

  /** The callee's half: its share and its own SRTP keys sealed for the caller (when both encrypt). */
  private calleeKeys(entry: CallEntry, local: MediaEndpoint): { wire: WireMedia; sealing: CallSealingKeys | null } {
    if (!local.crypto) return { wire: wireOf(local), sealing: null };
    if (!entry.callerKeyShare) throw new Error('the caller offers plain RTP but this unit requires SRTP (audio.srtp)');
    const share = this.keyExchange.newShare();
    const sealing = share.agree(entry.callerKeyShare, this.transcript(entry, entry.callerKeyShare, share.publicValue));
    entry.callerKeyShare = null;
    const wrappedKey = sealing.seal('callee-to-caller', local.crypto.keyParams);
    return { wire: wireOf(local, { suite: local.crypto.suite, keyShare: share.publicValue, wrappedKey }), sealing };
  }

  /** The caller's half, on the callee's accept: open the callee's keys, seal ours for it. */
  private callerKeys(entry: CallEntry, local: MediaEndpoint, remoteWire: WireMedia): { remote: MediaEndpoint; localWire: WireMedia } {
    const share = entry.keyShare;
    entry.keyShare = null;
    if (!remoteWire.srtp || !share) {
      // At most one side encrypts, or neither: the media engine decides (plain RTP on both, else refused).
      return { remote: this.remoteEndpoint(entry, remoteWire, null, 'callee-to-caller'), localWire: wireOf(local) };
    }
    if (!remoteWire.srtp.keyShare) throw new Error("the callee's SRTP keys come without its key share");
    const sealing = share.agree(remoteWire.srtp.keyShare, this.transcript(entry, share.publicValue, remoteWire.srtp.keyShare));
    const remote = this.remoteEndpoint(entry, remoteWire, sealing, 'callee-to-caller');
    const localWire = local.crypto ? wireOf(local, { suite: local.crypto.suite, wrappedKey: sealing.seal('caller-to-callee', local.crypto.keyParams) }) : wireOf(local);
    return { remote, localWire };
  }

  private requireLive(callId: string): CallEntry {
    const entry = this.find(callId);
    if (!entry) throw new CallError('unknown-call', `no call "${callId}"`);
    if (!isLive(entry.call)) throw new CallError('call-ended', `call already ended (${entry.call.endReason})`, this.snapshot(entry));
    return entry;
  }

  private find(callId: string): CallEntry | undefined {
    if (this.live?.call.id === callId) return this.live;
    return this.history.find((entry) => entry.call.id === callId);
  }

  private stateOf(entry: CallEntry): CallStateAnswer {
    return { callId: entry.call.id, phase: entry.call.phase, endReason: entry.call.endReason };
  }

  private snapshot(entry: CallEntry): CallSnapshot {
    const { call } = entry;
    const now = this.options.clock.now();
    const names =
      call.direction === 'outgoing'
        ? { caller: entry.localUnitName, callee: entry.remoteUnitName }
        : { caller: entry.remoteUnitName, callee: entry.localUnitName };
    const ringEnd = call.answeredAt ?? call.endedAt ?? now;
    return {
      id: call.id,
      direction: call.direction,
      phase: call.phase,
      endReason: call.endReason,
      caller: { ...call.caller, unitName: names.caller },
      callee: { ...call.callee, unitName: names.callee },
      createdAt: entry.createdAtIso,
      ringingMs: Math.round(ringEnd - call.createdAt),
      activeMs: call.answeredAt === null ? null : Math.round((call.endedAt ?? now) - call.answeredAt),
      supersededBy: entry.supersededBy,
      group: entry.group,
      stats: call.phase === 'active' ? this.options.media.stats(call.id) : null,
    };
  }
}
