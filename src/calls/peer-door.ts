import type { CallSnapshot } from './call-service.js';
import type { PeerResult, PeerTarget } from '../peers/peer-client.js';
import type { DoorOpenedAnswer } from '../peers/peer-protocol.js';
import type { DoorPulseResult } from '../gpio/gpio-service.js';
import type { Logger } from '../logging/logger.js';

/**
 * Opening the door from the flat: the person inside who is talking to a visitor opens the door
 * of the other unit of the call (the door station's relay), with a signed unit-to-unit request.
 * The door station obeys only the unit that is in its active call: any other unit of the site,
 * and any request outside an active call, is refused.
 */

export type PeerDoorRefusal =
  | 'unknown-call'
  | 'no-active-call'
  | 'not-in-call'
  | 'no-relay'
  | 'gpio-unavailable'
  | 'already-open'
  | 'peer-refused'
  | 'peer-unreachable';

export type PeerDoorRefused = { ok: false; code: PeerDoorRefusal; reason: string };

/** What opening the other unit's door came to, as this unit's person asked it. */
export type PeerDoorResult = { ok: true; callId: string; unitId: string; unitName: string; pulseMs: number } | PeerDoorRefused;

/** What this unit answered another unit that asked it to open its door. */
export type DoorRequestResult = { ok: true; pulseMs: number } | PeerDoorRefused;

/** The refusals of the other unit that mean the same here; any other is `peer-refused`. */
const FORWARDED: ReadonlySet<string> = new Set(['no-relay', 'gpio-unavailable', 'already-open', 'no-active-call']);

export interface PeerDoorOptions {
  calls: { get(callId: string): CallSnapshot | null; current(): CallSnapshot | null };
  /** Where a unit of the site answers now (the site directory). */
  baseUrlOf: (unitId: string) => string | null;
  client: { openDoor(target: PeerTarget, callId: string): Promise<PeerResult<DoorOpenedAnswer>> };
  /** Pulses this unit's own relay (GpioService.pulseDoor: only during an active call). */
  pulseOwnDoor: () => DoorPulseResult;
  logger: Logger;
}

/** The unit at the other end of `call`, seen from this unit. */
function remoteOf(call: CallSnapshot): CallSnapshot['caller'] {
  return call.direction === 'outgoing' ? call.callee : call.caller;
}

export class PeerDoor {
  constructor(private readonly options: PeerDoorOptions) {}

  /**
   * Opens the door of the other unit of call `callId` (default: the call active now). Refused
   * unless the call is active here; the other unit says whether its relay opened.
   */
  async open(callId?: string): Promise<PeerDoorResult> {
    const { calls, logger } = this.options;
    const call = callId === undefined ? calls.current() : calls.get(callId);
    if (!call) {
      return this.refuse(callId === undefined ? 'no-active-call' : 'unknown-call', callId === undefined ? 'this unit is not in a call' : `no call "${callId}"`);
    }
    if (call.phase !== 'active') return this.refuse('no-active-call', `the door opens only during an active call (the call is ${call.phase})`);
    const remote = remoteOf(call);
    const baseUrl = this.options.baseUrlOf(remote.unitId);
    if (!baseUrl) return this.refuse('peer-unreachable', `unit ${remote.unitName} is not reachable now`);
    const result = await this.options.client.openDoor({ baseUrl, unitId: remote.unitId }, call.id);
    if (result.kind === 'ok') {
      logger.info({ callId: call.id, unitId: remote.unitId, pulseMs: result.value.pulseMs }, `door of unit ${remote.unitName} opened from here for ${result.value.pulseMs} ms`);
      return { ok: true, callId: call.id, unitId: remote.unitId, unitName: remote.unitName, pulseMs: result.value.pulseMs };
    }
    if (result.kind === 'unreachable') return this.refuse('peer-unreachable', `unit ${remote.unitName} did not answer: ${result.message}`);
    const code = FORWARDED.has(result.error) ? (result.error as PeerDoorRefusal) : 'peer-refused';
    return this.refuse(code, `unit ${remote.unitName} did not open its door: ${result.message || result.error}`);
  }

  /**
   * Another unit (`fromUnitId`, as its signature proved) asks to open this unit's door during call
   * `callId`: only the unit in that call with this one, and only while the call is active.
   */
  handleRequest(callId: string, fromUnitId: string): DoorRequestResult {
    const call = this.options.calls.get(callId);
    if (!call) return this.refuseRequest('unknown-call', `no call "${callId}"`, fromUnitId);
    if (remoteOf(call).unitId !== fromUnitId) return this.refuseRequest('not-in-call', 'the requesting unit is not in this call', fromUnitId);
    if (call.phase !== 'active') return this.refuseRequest('no-active-call', `the door opens only during an active call (the call is ${call.phase})`, fromUnitId);
    const pulsed = this.options.pulseOwnDoor();
    if (!pulsed.ok) return this.refuseRequest(pulsed.code, pulsed.reason, fromUnitId);
    this.options.logger.info({ callId, unitId: fromUnitId, pulseMs: pulsed.pulseMs }, `door opened for unit ${remoteOf(call).unitName}, in the call`);
    return { ok: true, pulseMs: pulsed.pulseMs };
  }

  private refuse(code: PeerDoorRefusal, reason: string): PeerDoorRefused {
    this.options.logger.info({ code }, `door of the other unit not opened: ${reason}`);
    return { ok: false, code, reason };
  }

  private refuseRequest(code: PeerDoorRefusal, reason: string, fromUnitId: string): PeerDoorRefused {
    this.options.logger.warn({ code, unitId: fromUnitId }, `unit ${fromUnitId} asked to open the door; refused: ${reason}`);
    return { ok: false, code, reason };
  }
}
