import Value from 'typebox/value';
import type { TSchema, Static } from 'typebox';
import {
  AcceptAnswerSchema,
  CallStateAnswerSchema,
  OfferAnswerSchema,
  SENDER_HEADER,
  UNIT_API_PREFIX,
  UnitInfoSchema,
  type AcceptAnswer,
  type CallOffer,
  type CallStateAnswer,
  type OfferAnswer,
  type UnitInfo,
} from './peer-protocol.js';
import type { MediaEndpoint } from '../calls/call-media.js';
import type { EndReason } from '../calls/call-state.js';

/** What a signer sees of an outgoing request: exactly the bytes that will be sent. */
export interface OutgoingPeerRequest {
  method: 'GET' | 'POST';
  path: string;
  body: string;
  /** What to add to this unit's wall clock to read the receiver's (see PeerClockSync). */
  clockOffsetMs?: number;
}

/** Adds authentication headers to a unit-to-unit request (the authentication issue plugs in here). */
export type PeerRequestSigner = (request: OutgoingPeerRequest) => Record<string, string> | Promise<Record<string, string>>;

/** What a response check sees of an answer: the request headers this unit sent, and the exact answer. */
export interface IncomingPeerAnswer {
  requestHeaders: Record<string, string>;
  status: number;
  headers: { get(name: string): string | null };
  body: string;
}

/** Accepts an answer only when it proves to come from a unit of the site (the authentication issue plugs in here). */
export type PeerResponseVerifier = (answer: IncomingPeerAnswer) => boolean;

/**
 * Keeps each peer's clock offset, learnt from its verified answers, so that the signer can stamp
 * requests on the receiver's clock (src/security/peer-clock-sync.ts).
 */
export interface PeerClockSync {
  offsetMs(baseUrl: string): number;
  /** True when the offset changed enough that a refused request is worth sending again. */
  learn(baseUrl: string, answer: IncomingPeerAnswer, sentAtMs: number, receivedAtMs: number): boolean;
}

/** The outcome of one unit-to-unit request. `unreachable` covers timeouts, refused connections and garbage answers. */
export type PeerResult<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'refused'; status: number; error: string; message: string; body: unknown }
  | { kind: 'unreachable'; message: string };

/** "host:port" of a peer's HTTP API, IPv6 hosts in brackets. */
export function peerBaseUrl(host: string, port: number): string {
  const bare = host.startsWith('::ffff:') ? host.slice(7) : host;
  return bare.includes(':') ? `http://[${bare}]:${port}` : `http://${bare}:${port}`;
}

export interface PeerClientOptions {
  /** This unit's id, sent with every request so the receiver knows who is asking. */
  unitId: string;
  timeoutMs: number;
  sign?: PeerRequestSigner;
  /** An answer it refuses counts as `unreachable`: whoever answered is not a unit of the site. */
  verifyResponse?: PeerResponseVerifier;
  /** Learns peers' clocks from verified answers; a 401 after a clock change is sent once more. */
  clockSync?: PeerClockSync;
  /** Wall clock for `clockSync` (default Date.now). */
  wallClock?: () => number;
}

/** Makes the requests one unit sends to another (see peer-protocol.ts for the routes). */
export class PeerClient {
  constructor(private readonly options: PeerClientOptions) {}

  info(baseUrl: string): Promise<PeerResult<UnitInfo>> {
    return this.request(baseUrl, 'GET', '/info', undefined, UnitInfoSchema);
  }

  offer(baseUrl: string, offer: CallOffer): Promise<PeerResult<OfferAnswer>> {
    return this.request(baseUrl, 'POST', '/calls', offer, OfferAnswerSchema);
  }

  accept(baseUrl: string, callId: string, media: MediaEndpoint): Promise<PeerResult<AcceptAnswer>> {
    return this.request(baseUrl, 'POST', `/calls/${encodeURIComponent(callId)}/accept`, { media }, AcceptAnswerSchema);
  }

  end(baseUrl: string, callId: string, reason: EndReason): Promise<PeerResult<CallStateAnswer>> {
    return this.request(baseUrl, 'POST', `/calls/${encodeURIComponent(callId)}/end`, { reason }, CallStateAnswerSchema);
  }

  callState(baseUrl: string, callId: string): Promise<PeerResult<CallStateAnswer>> {
    return this.request(baseUrl, 'GET', `/calls/${encodeURIComponent(callId)}`, undefined, CallStateAnswerSchema);
  }

  private async request<S extends TSchema>(
    baseUrl: string,
    method: 'GET' | 'POST',
    subPath: string,
    payload: unknown,
    answerSchema: S,
    retryAfterClockChange = true,
  ): Promise<PeerResult<Static<S>>> {
    const path = `${UNIT_API_PREFIX}${subPath}`;
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const headers: Record<string, string> = { [SENDER_HEADER]: this.options.unitId, accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const { clockSync } = this.options;
    const wallClock = this.options.wallClock ?? Date.now;
    let response: Response;
    let text: string;
    let sentAtMs: number;
    try {
      Object.assign(headers, await this.options.sign?.({ method, path, body, clockOffsetMs: clockSync?.offsetMs(baseUrl) }));
      sentAtMs = wallClock();
      response = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        body: payload === undefined ? undefined : body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      return { kind: 'unreachable', message: (error as Error).message };
    }
    const answer = { requestHeaders: headers, status: response.status, headers: response.headers, body: text };
    if (this.options.verifyResponse && !this.options.verifyResponse(answer)) {
      return { kind: 'unreachable', message: `the answer to ${method} ${path} is not signed with this site's secret (${response.status})` };
    }
    // Only a verified answer may move our idea of the peer's clock.
    const clockMoved = this.options.verifyResponse !== undefined && clockSync !== undefined && clockSync.learn(baseUrl, answer, sentAtMs, wallClock());
    if (response.status === 401 && clockMoved && retryAfterClockChange) {
      // Refused for a timestamp outside its window, most likely: stamp it on the peer's clock and ask again.
      return this.request(baseUrl, method, subPath, payload, answerSchema, false);
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
    if (!Value.Check(answerSchema, parsed)) {
      return { kind: 'unreachable', message: `peer's answer to ${method} ${path} does not match the protocol` };
    }
    return { kind: 'ok', value: parsed as Static<S> };
  }
}
