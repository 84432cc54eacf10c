import { matchesSchema } from '../system/schema-check.js';
import type { TSchema, Static } from 'typebox';
import {
  ANY_RECEIVER,
  PageEndAnswerSchema,
  PageHeardAnswerSchema,
  PageKeyAnswerSchema,
  PageOfferAnswerSchema,
  type PageKeyAnswer,
  type PageOffer,
  type PageOfferAnswer,
  type PresenceAnswer,
  AcceptAnswerSchema,
  CallStateAnswerSchema,
  DoorOpenedAnswerSchema,
  GroupSyncSchema,
  type GroupSync,
  OfferAnswerSchema,
  RECEIVER_HEADER,
  RotationCommitAnswerSchema,
  RotationOfferAnswerSchema,
  type RotationCommit,
  type RotationCommitAnswer,
  type RotationOffer,
  type RotationOfferAnswer,
  SENDER_HEADER,
  UNIT_API_PREFIX,
  UnitInfoSchema,
  PresenceAnswerSchema,
  type PresencePush,
  type AcceptAnswer,
  type CallOffer,
  type CallStateAnswer,
  type DoorOpenedAnswer,
  type OfferAnswer,
  type UnitInfo,
  type WireMedia,
} from './peer-protocol.js';
import type { EndReason } from '../calls/call-state.js';
import type { AnswerCheck, IncomingPeerAnswer, OutgoingPeerRequest } from '../security/peer-auth.js';
import { httpRequest, type HttpAnswer } from '../net/http-request.js';

export type { IncomingPeerAnswer, OutgoingPeerRequest } from '../security/peer-auth.js';

/** A request stamped this far off the receiver's clock as now known is worth sending again once it was refused. */
const CLOCK_RETRY_THRESHOLD_MS = 1_000;

/** Where a request goes: a unit's HTTP base URL and the unit expected there (null: whoever answers, on a discovery poll). */
export interface PeerTarget {
  baseUrl: string;
  unitId: string | null;
}

/** Signs requests and checks answers with the site secret (src/security/peer-auth.ts). */
export interface PeerRequestAuth {
  sign(request: OutgoingPeerRequest): Record<string, string>;
  verifyAnswer(answer: IncomingPeerAnswer): AnswerCheck;
}

/**
 * Keeps each peer's clock offset, learnt from its verified answers, so that requests can be stamped
 * on the receiver's clock (src/security/peer-clock-sync.ts).
 */
export interface PeerClockSync {
  offsetMs(unitId: string | null): number;
  learn(unitId: string, peerTimeMs: number, sentAtMs: number, receivedAtMs: number): void;
}

/**
 * The outcome of one unit-to-unit request. `unreachable` covers timeouts, refused connections,
 * garbage and every answer that does not prove it comes from the unit asked (with a signing unit).
 */
export type PeerResult<T> =
  | { kind: 'ok'; value: T; /** The unit that answered. */ from: string }
  | { kind: 'refused'; status: number; error: string; message: string; body: unknown }
  | {
      kind: 'unreachable';
      message: string;
      /** Something answered, unsigned or not signed for us (a unit of another site, another version, or no unit at all): its status and `error`. */
      unverified?: { status: number; error: string | null };
    };

/** The `error` field of a JSON error answer, or null. */
function errorOf(text: string): string | null {
  try {
    const error = (JSON.parse(text) as { error?: unknown })?.error;
    return typeof error === 'string' ? error : null;
  } catch {
    return null;
  }
}

/** "host:port" of a peer's HTTP API, IPv6 hosts in brackets. */
export function peerBaseUrl(host: string, port: number): string {
  const bare = host.startsWith('::ffff:') ? host.slice(7) : host;
  return bare.includes(':') ? `http://[${bare}]:${port}` : `http://${bare}:${port}`;
}

export interface PeerClientOptions {
  /** This unit's id, sent with every request so the receiver knows who is asking. */
  unitId: string;
  timeoutMs: number;
  auth: PeerRequestAuth;
  /** Learns peers' clocks from verified answers; a 401 after a clock change is sent once more. */
  clockSync?: PeerClockSync;
  /** Wall clock for `clockSync` (default Date.now). */
  wallClock?: () => number;
}

/** Makes the requests one unit sends to another (see peer-protocol.ts for the routes). */
export class PeerClient {
  constructor(private readonly options: PeerClientOptions) {}

  /** The discovery poll: who answers at `baseUrl`, its users and state. `unitId`: the unit expected there, if known. */
  /**
   * Whether the unit at `baseUrl`, which does not share our secret, is in a site of its own (it
   * knows other units) or alone, and whether it lists this unit as left behind by a rotation of
   * its site's secret: its open GET /api/join/hello. Unauthenticated, so only a hint for people
   * (the panel's list of untrusted units); null when it does not answer so.
   */
  async hello(baseUrl: string): Promise<{ unitId: string; name: string; inSite: boolean; leftBehind: boolean } | null> {
    try {
      const url = `${baseUrl}/api/join/hello?unit=${encodeURIComponent(this.options.unitId)}`;
      const response = await httpRequest(url, { timeoutMs: this.options.timeoutMs });
      if (!response.ok) return null;
      const body = JSON.parse(response.text) as { unitId?: unknown; name?: unknown; inSite?: unknown; leftBehind?: unknown };
      if (typeof body.unitId !== 'string' || typeof body.name !== 'string' || typeof body.inSite !== 'boolean') return null;
      return { unitId: body.unitId.slice(0, 64), name: body.name.slice(0, 64), inSite: body.inSite, leftBehind: body.leftBehind === true };
    } catch {
      return null;
    }
  }

  async info(baseUrl: string, unitId: string | null = null): Promise<PeerResult<UnitInfo>> {
    const result = await this.request({ baseUrl, unitId }, 'GET', '/info', undefined, UnitInfoSchema);
    if (result.kind === 'ok' && result.value.unitId !== result.from) {
      return { kind: 'unreachable', message: `unit ${result.from} answered with the info of unit ${result.value.unitId}` };
    }
    return result;
  }

  offer(target: PeerTarget, offer: CallOffer): Promise<PeerResult<OfferAnswer>> {
    return this.request(target, 'POST', '/calls', offer, OfferAnswerSchema);
  }

  accept(target: PeerTarget, callId: string, media: WireMedia): Promise<PeerResult<AcceptAnswer>> {
    return this.request(target, 'POST', `/calls/${encodeURIComponent(callId)}/accept`, { media }, AcceptAnswerSchema);
  }

  end(target: PeerTarget, callId: string, reason: EndReason): Promise<PeerResult<CallStateAnswer>> {
    return this.request(target, 'POST', `/calls/${encodeURIComponent(callId)}/end`, { reason }, CallStateAnswerSchema);
  }

  callState(target: PeerTarget, callId: string): Promise<PeerResult<CallStateAnswer>> {
    return this.request(target, 'GET', `/calls/${encodeURIComponent(callId)}`, undefined, CallStateAnswerSchema);
  }

  /** Asks the other unit of an active call to pulse its door relay. */
  openDoor(target: PeerTarget, callId: string): Promise<PeerResult<DoorOpenedAnswer>> {
    return this.request(target, 'POST', `/calls/${encodeURIComponent(callId)}/open-door`, undefined, DoorOpenedAnswerSchema);
  }

  /** Tells a unit about a change: this unit's new info, or what its probing found (see PresenceService). */
  pushPresence(target: PeerTarget, push: PresencePush): Promise<PeerResult<PresenceAnswer>> {
    return this.request(target, 'POST', '/presence', push, PresenceAnswerSchema);
  }

  /** Sends this unit's versions of the groups; the answer is the other unit's (after it took the newer ones). */
  syncGroups(target: PeerTarget, groups: GroupSync['groups']): Promise<PeerResult<GroupSync>> {
    return this.request(target, 'POST', '/groups', { groups }, GroupSyncSchema);
  }

  /** Secret rotation, step 1: this unit's fresh public value out, the other unit's in. */
  rotationOffer(target: PeerTarget, offer: RotationOffer): Promise<PeerResult<RotationOfferAnswer>> {
    return this.request(target, 'POST', '/site/rotation', offer, RotationOfferAnswerSchema);
  }

  /** Secret rotation, step 2: the new secret sealed; the answer proves the other unit opened it. */
  rotationCommit(target: PeerTarget, commit: RotationCommit): Promise<PeerResult<RotationCommitAnswer>> {
    return this.request(target, 'POST', '/site/rotation/commit', commit, RotationCommitAnswerSchema);
  }

  /** Paging, step 1: the page offered with this unit's public value; the answer says whether the member plays it. */
  pageOffer(target: PeerTarget, offer: PageOffer): Promise<PeerResult<PageOfferAnswer>> {
    return this.request(target, 'POST', '/pages', offer, PageOfferAnswerSchema);
  }

  /** Paging, step 2: the page's SRTP key, sealed under the key both units derived. */
  pageKey(target: PeerTarget, pageId: string, wrappedKey: string): Promise<PeerResult<PageKeyAnswer>> {
    return this.request(target, 'POST', `/pages/${encodeURIComponent(pageId)}/key`, { wrappedKey }, PageKeyAnswerSchema);
  }

  /** A member tells the paging unit it hears the page (and over which path). */
  pageHeard(target: PeerTarget, pageId: string, multicastPackets: number): Promise<PeerResult<{ via: 'multicast' | 'unicast' | 'none' }>> {
    return this.request(target, 'POST', `/pages/${encodeURIComponent(pageId)}/heard`, { multicastPackets }, PageHeardAnswerSchema);
  }

  pageEnd(target: PeerTarget, pageId: string): Promise<PeerResult<{ ended: boolean }>> {
    return this.request(target, 'POST', `/pages/${encodeURIComponent(pageId)}/end`, undefined, PageEndAnswerSchema);
  }

  private async request<S extends TSchema>(
    target: PeerTarget,
    method: 'GET' | 'POST',
    subPath: string,
    payload: unknown,
    answerSchema: S,
    clockHint: string | null = target.unitId,
    retryAfterClockChange = true,
  ): Promise<PeerResult<Static<S>>> {
    const { auth, clockSync } = this.options;
    const wallClock = this.options.wallClock ?? Date.now;
    const path = `${UNIT_API_PREFIX}${subPath}`;
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const receiver = target.unitId ?? ANY_RECEIVER;
    let url: URL;
    try {
      url = new URL(`${target.baseUrl}${path}`);
    } catch {
      return { kind: 'unreachable', message: `"${target.baseUrl}" is not a unit's address` };
    }
    const outgoing: OutgoingPeerRequest = { method, authority: url.host, path, body, receiver, clockOffsetMs: clockSync?.offsetMs(clockHint) };
    const headers: Record<string, string> = { [SENDER_HEADER]: this.options.unitId, [RECEIVER_HEADER]: receiver, accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    let response: HttpAnswer;
    let sentAtMs: number;
    try {
      Object.assign(headers, auth.sign(outgoing));
      sentAtMs = wallClock();
      response = await httpRequest(url, { method, headers, body: payload === undefined ? undefined : body, timeoutMs: this.options.timeoutMs });
    } catch (error) {
      return { kind: 'unreachable', message: (error as Error).message };
    }
    const text = response.text;
    const check = auth.verifyAnswer({ request: { ...outgoing, headers }, status: response.status, headers: response.headers, body: text });
    if (!check.ok) {
      return {
        kind: 'unreachable',
        message: `the answer to ${method} ${path} from ${url.host} does not prove it comes from a unit of this site: ${check.reason}`,
        unverified: { status: response.status, error: errorOf(text) },
      };
    }
    const from = check.responder;
    // Only a verified answer to our own request may move our idea of that unit's clock.
    if (check.peerTimeMs !== null && clockSync) clockSync.learn(from, check.peerTimeMs, sentAtMs, wallClock());
    const stampedOff = clockSync !== undefined && Math.abs(clockSync.offsetMs(from) - (outgoing.clockOffsetMs ?? 0)) >= CLOCK_RETRY_THRESHOLD_MS;
    if (response.status === 401 && stampedOff && retryAfterClockChange) {
      // Refused for a timestamp outside its window: stamp it on that unit's clock and ask again.
      return this.request(target, method, subPath, payload, answerSchema, from, false);
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      return { kind: 'unreachable', message: `peer answered ${response.status} with a body that is not JSON` };
    }
    if (!response.ok) {
      const error = (parsed as { error?: unknown })?.error;
      const message = (parsed as { message?: unknown })?.message;
      return {
        kind: 'refused',
        status: response.status,
        error: typeof error === 'string' ? error : `http-${response.status}`,
        message: typeof message === 'string' ? message : '',
        body: parsed,
      };
    }
    if (!matchesSchema(answerSchema, parsed)) {
      return { kind: 'unreachable', message: `peer's answer to ${method} ${path} does not match the protocol` };
    }
    return { kind: 'ok', value: parsed as Static<S>, from };
  }
}
