/**
 * The call lifecycle as pure decisions: no I/O, no timers, no clocks (times come in as numbers).
 * The call service (call-service.ts) asks these functions what to do and performs the effects.
 *
 *   ringing --answer--> active --end--> ended
 *      \------------------end--------/
 */

export type CallPhase = 'ringing' | 'active' | 'ended';
/** `answered-elsewhere`: a group call rang here and another member's unit answered it first. */
export const END_REASONS = ['hung-up', 'rejected', 'busy', 'ring-timeout', 'unreachable', 'peer-lost', 'media-failed', 'answered-elsewhere'] as const;
export type EndReason = (typeof END_REASONS)[number];
/** Whether this unit placed the call or is being called. */
export type CallDirection = 'outgoing' | 'incoming';

export interface CallParty {
  user: string;
  unitId: string;
}

export interface Call {
  id: string;
  direction: CallDirection;
  caller: CallParty;
  callee: CallParty;
  phase: CallPhase;
  endReason: EndReason | null;
  createdAt: number;
  answeredAt: number | null;
  endedAt: number | null;
}

export function newCall(fields: { id: string; direction: CallDirection; caller: CallParty; callee: CallParty; now: number }): Call {
  return {
    id: fields.id,
    direction: fields.direction,
    caller: { ...fields.caller },
    callee: { ...fields.callee },
    phase: 'ringing',
    endReason: null,
    createdAt: fields.now,
    answeredAt: null,
    endedAt: null,
  };
}

export function isLive(call: Call | null | undefined): boolean {
  return !!call && call.phase !== 'ended';
}

/** The unit at the other end of the call, seen from this unit. */
export function remoteParty(call: Call): CallParty {
  return call.direction === 'outgoing' ? call.callee : call.caller;
}

export function localParty(call: Call): CallParty {
  return call.direction === 'outgoing' ? call.caller : call.callee;
}

export type TransitionResult = { ok: true; call: Call; changed: boolean } | { ok: false; problem: string };

/** ringing -> active. Answering an active call again is a no-op; anything else is refused. */
export function answer(call: Call, now: number): TransitionResult {
  if (call.phase === 'active') return { ok: true, call, changed: false };
  if (call.phase !== 'ringing') return { ok: false, problem: `call is ${call.phase}${call.endReason ? ` (${call.endReason})` : ''}` };
  return { ok: true, call: { ...call, phase: 'active', answeredAt: now }, changed: true };
}

/** ringing|active -> ended. Ending an ended call keeps its first reason (both sides may race to end). */
export function end(call: Call, reason: EndReason, now: number): TransitionResult {
  if (call.phase === 'ended') return { ok: true, call, changed: false };
  if (reason === 'ring-timeout' && call.phase !== 'ringing') return { ok: false, problem: 'only a ringing call can time out' };
  return { ok: true, call: { ...call, phase: 'ended', endReason: reason, endedAt: now }, changed: true };
}

/**
 * A group call rings many units under one call; the first member's unit to answer becomes its
 * callee (until then the callee is the group, with no unit). Only a ringing outgoing group call binds.
 */
export function bindGroupCallee(call: Call, callee: CallParty): TransitionResult {
  if (call.direction !== 'outgoing' || call.phase !== 'ringing' || call.callee.unitId !== '') return { ok: false, problem: 'only a ringing group call takes the member who answers' };
  return { ok: true, call: { ...call, callee: { ...callee } }, changed: true };
}

/**
 * How a group call ends when no member's unit rings any more (each answered busy, refused it, or
 * could not be reached): busy when any was busy, else refused when one refused, else the last reason.
 */
export function groupOutcome(reasons: EndReason[]): EndReason {
  for (const reason of ['busy', 'rejected', 'ring-timeout'] as const) if (reasons.includes(reason)) return reason;
  return 'unreachable';
}

/** Why a call ends when someone on this unit hangs up: refusing a ringing incoming call is a rejection. */
export function localHangUpReason(call: Call): EndReason {
  return call.phase === 'ringing' && call.direction === 'incoming' ? 'rejected' : 'hung-up';
}

/**
 * Settles glare: when two units call each other at once, both compute the same answer. The call
 * whose (caller unit id, call id) sorts first wins.
 */
export function glareWinner(a: { callerUnitId: string; callId: string }, b: { callerUnitId: string; callId: string }): 'a' | 'b' {
  if (a.callerUnitId !== b.callerUnitId) return a.callerUnitId < b.callerUnitId ? 'a' : 'b';
  return a.callId <= b.callId ? 'a' : 'b';
}

/** Two calls join the same two users in opposite directions (each called the other). */
export function mutual(a: Call | { caller: CallParty; callee: CallParty }, b: { caller: CallParty; callee: CallParty }): boolean {
  const same = (x: CallParty, y: CallParty) => x.unitId === y.unitId && x.user.toLowerCase() === y.user.toLowerCase();
  return same(a.caller, b.callee) && same(a.callee, b.caller);
}

export type OutgoingDecision =
  | { kind: 'start' }
  /** This unit is in a call already. */
  | { kind: 'busy'; liveCallId: string }
  /** The person being called is calling us right now: answering that call is what the caller wants. */
  | { kind: 'answer-existing'; callId: string };

/** May this unit place a call from `caller` to `callee`, given its live call (at most one)? */
export function decideOutgoing(live: Call | null, request: { caller: CallParty; callee: CallParty }): OutgoingDecision {
  if (!live || !isLive(live)) return { kind: 'start' };
  if (live.direction === 'incoming' && live.phase === 'ringing' && mutual(live, request)) {
    return { kind: 'answer-existing', callId: live.id };
  }
  return { kind: 'busy', liveCallId: live.id };
}

export type OfferDecision =
  | { kind: 'ring' }
  /** The same offer again (a retry): answer as before. */
  | { kind: 'duplicate'; call: Call }
  | { kind: 'busy'; liveCallId: string }
  /** Glare, and the offer wins: drop our own outgoing call and ring the offered one instead. */
  | { kind: 'glare-won'; supersededCallId: string; autoAnswer: boolean }
  /** Glare, and our outgoing call wins: refuse the offer; the other unit will ring ours. */
  | { kind: 'glare-lost'; winningCallId: string };

/** What to do with a call offered by another unit, given this unit's live call (at most one). */
export function decideOffer(
  live: Call | null,
  offer: { callId: string; caller: CallParty; callee: CallParty },
): OfferDecision {
  if (!live || !isLive(live)) return { kind: 'ring' };
  if (live.id === offer.callId) return { kind: 'duplicate', call: live };
  const glare = live.direction === 'outgoing' && live.phase === 'ringing' && live.callee.unitId === offer.caller.unitId;
  if (!glare) return { kind: 'busy', liveCallId: live.id };
  const winner = glareWinner(
    { callerUnitId: live.caller.unitId, callId: live.id },
    { callerUnitId: offer.caller.unitId, callId: offer.callId },
  );
  if (winner === 'a') return { kind: 'glare-lost', winningCallId: live.id };
  return { kind: 'glare-won', supersededCallId: live.id, autoAnswer: mutual(live, offer) };
}

/** Whether a ringing call has rung for `ringTimeoutMs` or longer. */
export function ringExpired(call: Call, now: number, ringTimeoutMs: number): boolean {
  return call.phase === 'ringing' && now - call.createdAt >= ringTimeoutMs;
}

/**
 * An active call's peer is lost when neither audio nor signaling has come from it for
 * `peerLostMs`. Before the first packet, the time since the call was answered counts as silence.
 */
export function peerIsLost(input: {
  call: Call;
  now: number;
  msSinceLastPacket: number | null;
  lastSignalingAt: number;
  peerLostMs: number;
}): boolean {
  const { call, now, peerLostMs } = input;
  if (call.phase !== 'active' || call.answeredAt === null) return false;
  const audioSilentMs = input.msSinceLastPacket ?? now - call.answeredAt;
  const signalingSilentMs = now - input.lastSignalingAt;
  return audioSilentMs >= peerLostMs && signalingSilentMs >= peerLostMs;
}
