import type { CallMediaStats } from '../calls/call-media.js';
import type { CallSnapshot } from '../calls/call-service.js';
import type { CALL_STATES } from './ha-discovery.js';

/** The pure translations from the unit's calls to what Home Assistant reads. */

export type CallStateValue = (typeof CALL_STATES)[number];

export function callStateOf(live: CallSnapshot | null): CallStateValue {
  if (!live || live.phase === 'ended') return 'idle';
  return live.phase;
}

function localParty(call: CallSnapshot) {
  return call.direction === 'incoming' ? call.callee : call.caller;
}

function remoteParty(call: CallSnapshot) {
  return call.direction === 'incoming' ? call.caller : call.callee;
}

/** The call state sensor's attributes: the live call's peer, and how the last call ended. */
export function callAttributesOf(live: CallSnapshot | null, lastEnded: CallSnapshot | null): Record<string, unknown> {
  const current = live && live.phase !== 'ended' ? live : null;
  return {
    call_id: current?.id ?? null,
    direction: current?.direction ?? null,
    user: current ? localParty(current).user : null,
    peer: current ? remoteParty(current).user : null,
    peer_unit: current ? remoteParty(current).unitName : null,
    last_call_id: lastEnded?.id ?? null,
    last_peer: lastEnded ? remoteParty(lastEnded).user : null,
    last_end_reason: lastEnded?.endReason ?? null,
  };
}

/** A ring event as Home Assistant's MQTT event entity reads it: `event_type` and attributes. */
export interface RingEvent {
  event_type: 'ring';
  caller: string;
  caller_unit: string;
  callee: string;
  call_id: string;
  /** When the call was offered (ISO 8601): the original time, also for an event sent after a reconnection. */
  rang_at: string;
  /** Do-not-disturb was on: the call was answered busy instead of ringing. */
  do_not_disturb: boolean;
  /** Sent after the unit reconnected to the broker, not as it happened. */
  delayed: boolean;
}

export function ringEventOf(call: CallSnapshot): RingEvent {
  return {
    event_type: 'ring',
    caller: call.caller.user,
    caller_unit: call.caller.unitName,
    callee: call.callee.user,
    call_id: call.id,
    rang_at: call.createdAt,
    do_not_disturb: call.phase === 'ended' && call.endReason === 'busy',
    delayed: false,
  };
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The last call's audio figures (what the receiver of this unit measured over the whole call). */
export function lastCallOf(call: CallSnapshot, stats: CallMediaStats, endedAt: Date): Record<string, unknown> {
  const expected = stats.packetsReceived + stats.packetsLost;
  return {
    call_id: call.id,
    peer: remoteParty(call).user,
    peer_unit: remoteParty(call).unitName,
    ended_at: endedAt.toISOString(),
    end_reason: call.endReason,
    duration_s: call.activeMs === null ? null : round(call.activeMs / 1000),
    loss_percent: expected > 0 ? round((100 * stats.packetsLost) / expected, 2) : 0,
    jitter_ms: round(stats.jitterMs),
    delay_ms: round(stats.currentDelayMs),
    concealed_ms: round(stats.concealedMs, 0),
    packets_received: stats.packetsReceived,
    packets_lost: stats.packetsLost,
  };
}
