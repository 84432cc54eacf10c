import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../logging/logger.js';
import type { OutgoingPeerRequest, PeerRequestSigner } from '../peers/peer-client.js';
import { SENDER_HEADER } from '../peers/peer-protocol.js';
import type { IncomingPeerRequest, PeerRequestVerifier } from '../signaling/unit-routes.js';
import { ReplayCache } from './replay-cache.js';

/**
 * Authentication of unit-to-unit requests with the site secret.
 *
 * Every request carries, besides the sender's unit id (SENDER_HEADER):
 *   x-intercom-timestamp  wall-clock milliseconds since the epoch when it was signed
 *   x-intercom-nonce      16 random bytes, base64url
 *   x-intercom-signature  "v1=" + hex HMAC-SHA256(site secret, canonical string)
 * where the canonical string is these lines joined by "\n":
 *   intercom-peer-v1, METHOD, path (with query), sender unit id, timestamp, nonce, hex SHA-256 of the body.
 * The receiver recomputes it over the bytes it actually received, compares in constant time, accepts
 * timestamps within ±maxClockSkewMs of its own clock, and refuses a nonce it has already accepted.
 */

export const TIMESTAMP_HEADER = 'x-intercom-timestamp';
export const NONCE_HEADER = 'x-intercom-nonce';
export const SIGNATURE_HEADER = 'x-intercom-signature';
const SIGNATURE_VERSION = 'v1';
const CANONICAL_TAG = 'intercom-peer-v1';

const TIMESTAMP_PATTERN = /^[0-9]{1,16}$/;
const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const SIGNATURE_PATTERN = /^v1=[0-9a-f]{64}$/;

/** Why an incoming unit-to-unit request was refused. */
export const REJECTION_REASONS = [
  'missing-headers',
  'malformed-headers',
  'bad-signature',
  'clock-skew',
  'replayed-nonce',
  'replay-cache-full',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export type VerifyResult = { ok: true; unitId: string } | { ok: false; reason: RejectionReason };

/** What is signed: method, path and exact body of the request, plus who sends it, when, and a nonce. */
export interface SignedFields {
  method: string;
  path: string;
  unitId: string;
  timestamp: string;
  nonce: string;
  body: string;
}

/** The string the HMAC covers. Newlines cannot occur inside any field (all are validated), so fields cannot be shifted. */
export function canonicalString(fields: SignedFields): string {
  const bodyHash = createHash('sha256').update(fields.body, 'utf8').digest('hex');
  return [CANONICAL_TAG, fields.method.toUpperCase(), fields.path, fields.unitId, fields.timestamp, fields.nonce, bodyHash].join('\n');
}

/** "v1=<hex HMAC-SHA256>" of the canonical string. */
export function computeSignature(secret: string, fields: SignedFields): string {
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(canonicalString(fields), 'utf8').digest('hex')}`;
}

export interface PeerSignerOptions {
  secret: string;
  /** This unit's id; must equal the SENDER_HEADER the client sends. */
  unitId: string;
  /** Wall-clock milliseconds (default Date.now). */
  wallClock?: () => number;
  /** Default: 16 random bytes, base64url. */
  newNonce?: () => string;
}

/**
 * The headers that authenticate one outgoing request. The timestamp is our wall clock plus
 * `request.clockOffsetMs`, what we have learnt of the receiver's clock (see PeerClockOffsets).
 */
export function signPeerRequest(request: OutgoingPeerRequest, options: PeerSignerOptions): Record<string, string> {
  const timestamp = String(Math.max(0, Math.round((options.wallClock ?? Date.now)() + (request.clockOffsetMs ?? 0))));
  const nonce = (options.newNonce ?? (() => randomBytes(16).toString('base64url')))();
  const signature = computeSignature(options.secret, { method: request.method, path: request.path, unitId: options.unitId, timestamp, nonce, body: request.body });
  return { [TIMESTAMP_HEADER]: timestamp, [NONCE_HEADER]: nonce, [SIGNATURE_HEADER]: signature };
}

/** The PeerClient's `sign` hook for this unit. */
export function createPeerRequestSigner(options: PeerSignerOptions): PeerRequestSigner {
  return (request) => signPeerRequest(request, options);
}

/**
 * Responses, signed too, so that a host on the LAN that was merely asked (it announced itself over
 * DNS-SD, or an address was reused) cannot pose as a unit of the site: the answer's signature binds
 * the request's nonce (it cannot be replayed to another request), the status, the answering unit's
 * wall-clock time and the exact body.
 *   x-intercom-time                 the answering unit's wall-clock milliseconds since the epoch
 *   x-intercom-response-signature   "v1=" + hex HMAC-SHA256(site secret, canonical response string)
 * with the lines intercom-peer-response-v2, request nonce, status code, time, hex SHA-256 of the body.
 * The time lets the asking unit stamp its next requests on the answering unit's clock (units
 * without a real-time clock disagree by hours), and even a refusal carries it.
 */
export const RESPONSE_SIGNATURE_HEADER = 'x-intercom-response-signature';
export const PEER_TIME_HEADER = 'x-intercom-time';
const RESPONSE_CANONICAL_TAG = 'intercom-peer-response-v2';

export interface SignedResponseFields {
  /** The x-intercom-nonce of the request this answers. */
  requestNonce: string;
  status: number;
  /** The x-intercom-time of the answer (decimal milliseconds). */
  time: string;
  body: string;
}

export function computeResponseSignature(secret: string, fields: SignedResponseFields): string {
  const bodyHash = createHash('sha256').update(fields.body, 'utf8').digest('hex');
  const canonical = [RESPONSE_CANONICAL_TAG, fields.requestNonce, String(fields.status), fields.time, bodyHash].join('\n');
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(canonical, 'utf8').digest('hex')}`;
}

/** True when `signature` (the response header, possibly absent) proves the answer came from a unit with `secret`. */
export function verifyPeerResponse(secret: string, fields: SignedResponseFields & { signature: string | null | undefined }): boolean {
  if (typeof fields.signature !== 'string' || !SIGNATURE_PATTERN.test(fields.signature)) return false;
  const expected = computeResponseSignature(secret, fields);
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(fields.signature, 'latin1'));
}

/** The unit routes' response-signing hook: signs every answer to a request that carried a nonce. */
export function createPeerResponseSigner(
  secret: string,
  wallClock: () => number = Date.now,
): (answer: { requestHeaders: IncomingHttpHeaders; status: number; body: string }) => Record<string, string> {
  return ({ requestHeaders, status, body }): Record<string, string> => {
    const nonce = requestHeaders[NONCE_HEADER];
    if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) return {};
    const time = String(Math.round(wallClock()));
    return { [PEER_TIME_HEADER]: time, [RESPONSE_SIGNATURE_HEADER]: computeResponseSignature(secret, { requestNonce: nonce, status, time, body }) };
  };
}

/** The peer client's response check: the answer must be signed for the nonce this unit sent. */
export function createPeerResponseVerifier(
  secret: string,
): (answer: { requestHeaders: Record<string, string>; status: number; headers: { get(name: string): string | null }; body: string }) => boolean {
  return ({ requestHeaders, status, headers, body }) => {
    const nonce = requestHeaders[NONCE_HEADER];
    const time = headers.get(PEER_TIME_HEADER);
    if (typeof nonce !== 'string' || time === null) return false;
    return verifyPeerResponse(secret, { requestNonce: nonce, status, time, body, signature: headers.get(RESPONSE_SIGNATURE_HEADER) });
  };
}

export interface PeerVerifierOptions {
  secret: string;
  /** Accepted difference between the sender's timestamp and this unit's clock (both ways). */
  maxClockSkewMs: number;
  /** Bound on remembered nonces (default 10 000: about 1 MB). */
  maxRememberedNonces?: number;
  wallClock?: () => number;
  /** Rejections are logged at most once per reason per `logIntervalMs` (default 60 s), with the count since. */
  logger?: Logger;
  logIntervalMs?: number;
}

/** Counts of unit-to-unit requests, for /api/status. */
export interface PeerAuthCounters {
  accepted: number;
  rejected: number;
  rejectedByReason: Record<RejectionReason, number>;
}

const REASON_HINTS: Partial<Record<RejectionReason, string>> = {
  'bad-signature': 'the sender does not share this site secret (another site, a stranger, or a unit whose secret was not copied)',
  'clock-skew': "the sender's clock and this unit's clock differ by more than site.maxClockSkewMs",
  'missing-headers': 'the sender does not sign its requests (another site or an old version)',
};

function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined | null {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : null;
}

/**
 * Checks incoming unit-to-unit requests and counts what it refuses. The signature is checked before
 * the timestamp and the nonce, so a refusal for clock skew or replay names an authentic sender, and a
 * stranger can neither fill the replay cache nor learn anything but "bad-signature".
 */
export class PeerRequestAuthenticator {
  private readonly replay: ReplayCache;
  private readonly wallClock: () => number;
  private readonly counts: PeerAuthCounters = {
    accepted: 0,
    rejected: 0,
    rejectedByReason: Object.fromEntries(REJECTION_REASONS.map((reason) => [reason, 0])) as Record<RejectionReason, number>,
  };
  private readonly lastLogged = new Map<RejectionReason, { at: number; countThen: number }>();

  constructor(private readonly options: PeerVerifierOptions) {
    this.wallClock = options.wallClock ?? Date.now;
    this.replay = new ReplayCache({ retainMs: options.maxClockSkewMs, maxEntries: options.maxRememberedNonces ?? 10_000 });
  }

  /** The unit routes' verification hook. */
  readonly verifier: PeerRequestVerifier = (request) => this.verify(request).ok;

  verify(request: IncomingPeerRequest): VerifyResult {
    const result = this.check(request);
    if (result.ok) {
      this.counts.accepted += 1;
    } else {
      this.counts.rejected += 1;
      this.counts.rejectedByReason[result.reason] += 1;
      this.logRejection(result.reason, request);
    }
    return result;
  }

  counters(): PeerAuthCounters {
    return { accepted: this.counts.accepted, rejected: this.counts.rejected, rejectedByReason: { ...this.counts.rejectedByReason } };
  }

  /** How many nonces are remembered now (bounded by maxRememberedNonces). */
  get rememberedNonces(): number {
    return this.replay.size;
  }

  private check(request: IncomingPeerRequest): VerifyResult {
    const unitId = singleHeader(request.headers, SENDER_HEADER);
    const timestamp = singleHeader(request.headers, TIMESTAMP_HEADER);
    const nonce = singleHeader(request.headers, NONCE_HEADER);
    const signature = singleHeader(request.headers, SIGNATURE_HEADER);
    if (unitId === undefined || timestamp === undefined || nonce === undefined || signature === undefined) {
      return { ok: false, reason: 'missing-headers' };
    }
    if (
      unitId === null ||
      timestamp === null ||
      nonce === null ||
      signature === null ||
      unitId.length === 0 ||
      unitId.length > 64 ||
      unitId.includes('\n') ||
      !TIMESTAMP_PATTERN.test(timestamp) ||
      !NONCE_PATTERN.test(nonce) ||
      !SIGNATURE_PATTERN.test(signature)
    ) {
      return { ok: false, reason: 'malformed-headers' };
    }
    const expected = computeSignature(this.options.secret, { method: request.method, path: request.url, unitId, timestamp, nonce, body: request.rawBody });
    // Both are "v1=" + 64 hex digits here, so the lengths match and the comparison time reveals nothing.
    if (!timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(signature, 'latin1'))) return { ok: false, reason: 'bad-signature' };
    const now = this.wallClock();
    const stampedAt = Number(timestamp);
    if (Math.abs(now - stampedAt) > this.options.maxClockSkewMs) return { ok: false, reason: 'clock-skew' };
    const verdict = this.replay.admit(nonce, stampedAt, now);
    if (verdict === 'replayed') return { ok: false, reason: 'replayed-nonce' };
    if (verdict === 'cache-full') return { ok: false, reason: 'replay-cache-full' };
    return { ok: true, unitId };
  }

  private logRejection(reason: RejectionReason, request: IncomingPeerRequest): void {
    const { logger } = this.options;
    if (!logger) return;
    const now = this.wallClock();
    const last = this.lastLogged.get(reason);
    const interval = this.options.logIntervalMs ?? 60_000;
    if (last && now - last.at < interval) return;
    const count = this.counts.rejectedByReason[reason];
    this.lastLogged.set(reason, { at: now, countThen: count });
    const sender = singleHeader(request.headers, SENDER_HEADER);
    logger.warn(
      {
        reason,
        method: request.method,
        url: request.url.slice(0, 200),
        sender: typeof sender === 'string' ? sender.slice(0, 64) : null,
        refusedSinceLastReport: count - (last?.countThen ?? 0),
        hint: REASON_HINTS[reason],
      },
      'refused a unit-to-unit request (401)',
    );
  }
}
