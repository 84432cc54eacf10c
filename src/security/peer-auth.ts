import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../logging/logger.js';
import { ANY_RECEIVER, DISCOVERY_PATH, RECEIVER_HEADER, SENDER_HEADER, UNIT_PROTOCOL_VERSION } from '../peers/peer-protocol.js';
import { ReplayCache } from './replay-cache.js';

/**
 * Authentication of unit-to-unit requests and of their answers with the site secret (protocol v2).
 *
 * A request carries, besides its sender (SENDER_HEADER) and receiver (RECEIVER_HEADER):
 *   x-intercom-timestamp  wall-clock milliseconds when it was signed (on the receiver's clock as far as known)
 *   x-intercom-nonce      16 random bytes, base64url
 *   x-intercom-signature  "v2=" + hex HMAC-SHA256(site secret, canonical request)
 * The canonical request is these lines joined by "\n": intercom-peer-request-v2, METHOD, the Host it
 * was sent to, path with query, sender unit id, receiver unit id, timestamp, nonce, hex SHA-256 of
 * the body. So a signed request is good only for the unit it names, at the address it was sent to
 * (the Host must be one of the receiver's own names or addresses, src/security/host-check.ts), once,
 * and within the freshness window.
 *
 * An answer carries:
 *   x-intercom-unit-id              the answering unit
 *   x-intercom-time                 its wall-clock milliseconds
 *   x-intercom-response-signature   "v2=" + hex HMAC-SHA256(site secret, canonical answer)
 * with the lines intercom-peer-response-v2, METHOD, Host, path, the requesting unit, the answering
 * unit, the request's nonce, status, time, hex SHA-256 of the body. Only answers to requests that
 * proved to come from a unit of the site are signed (and a refusal for the clock, whose time the
 * asking unit needs): nothing a stranger chooses ever gets a signature.
 */

export const TIMESTAMP_HEADER = 'x-intercom-timestamp';
export const NONCE_HEADER = 'x-intercom-nonce';
export const SIGNATURE_HEADER = 'x-intercom-signature';
export const RESPONSE_SIGNATURE_HEADER = 'x-intercom-response-signature';
export const PEER_TIME_HEADER = 'x-intercom-time';
/** The answering unit's id rides in the same header a request's sender does. */
export const RESPONDER_HEADER = SENDER_HEADER;

const SIGNATURE_VERSION = `v${UNIT_PROTOCOL_VERSION}`;
const REQUEST_TAG = 'intercom-peer-request-v2';
const RESPONSE_TAG = 'intercom-peer-response-v2';

const TIMESTAMP_PATTERN = /^[0-9]{1,16}$/;
const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const SIGNATURE_PATTERN = /^v2=[0-9a-f]{64}$/;
/** Another version's signature: said plainly, so a site with mixed versions knows what to do. */
const OTHER_VERSION_PATTERN = /^v([0-9]{1,3})=/;
const UNIT_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
const AUTHORITY_PATTERN = /^[A-Za-z0-9.:[\]%_-]{1,300}$/;

/** Why an incoming unit-to-unit request was refused. */
export const REJECTION_REASONS = [
  'missing-headers',
  'malformed-headers',
  'protocol-version',
  'bad-signature',
  'wrong-receiver',
  'clock-skew',
  'replayed-nonce',
  'replay-cache-full',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export type VerifyResult =
  | { ok: true; unitId: string }
  | {
      ok: false;
      reason: RejectionReason;
      /** Set only when the request proved to come from a unit of the site: its answer may be signed. */
      authenticSender?: string;
      /** For people reading the refusal. */
      message: string;
    };

function bodyDigest(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

function hmac(secret: string, canonical: string): string {
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(canonical, 'utf8').digest('hex')}`;
}

/** Both are "v2=" + 64 hex digits when this is called, so the comparison time reveals nothing. */
function sameSignature(expected: string, given: string): boolean {
  return expected.length === given.length && timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(given, 'latin1'));
}

/** Host as it is compared and signed: lower case, as the HTTP client sent it (port included when not 80). */
export function normalizeAuthority(host: string): string {
  return host.trim().toLowerCase();
}

/** What a request's signature covers. No field can hold a newline (all are validated), so none can be shifted into another. */
export interface SignedRequestFields {
  method: string;
  /** The Host the request is sent to, e.g. "10.0.0.5:5000". */
  authority: string;
  path: string;
  sender: string;
  receiver: string;
  timestamp: string;
  nonce: string;
  body: string;
}

export function canonicalRequest(fields: SignedRequestFields): string {
  return [
    REQUEST_TAG,
    fields.method.toUpperCase(),
    normalizeAuthority(fields.authority),
    fields.path,
    fields.sender,
    fields.receiver,
    fields.timestamp,
    fields.nonce,
    bodyDigest(fields.body),
  ].join('\n');
}

export function computeRequestSignature(secret: string, fields: SignedRequestFields): string {
  return hmac(secret, canonicalRequest(fields));
}

/** What an answer's signature covers: the request it answers (as the asking unit sent it) and the answer itself. */
export interface SignedAnswerFields {
  method: string;
  authority: string;
  path: string;
  /** The unit that asked. */
  requester: string;
  /** The unit that answers. */
  responder: string;
  requestNonce: string;
  status: number;
  time: string;
  body: string;
}

export function canonicalAnswer(fields: SignedAnswerFields): string {
  return [
    RESPONSE_TAG,
    fields.method.toUpperCase(),
    normalizeAuthority(fields.authority),
    fields.path,
    fields.requester,
    fields.responder,
    fields.requestNonce,
    String(fields.status),
    fields.time,
    bodyDigest(fields.body),
  ].join('\n');
}

export function computeAnswerSignature(secret: string, fields: SignedAnswerFields): string {
  return hmac(secret, canonicalAnswer(fields));
}

// ---- the asking side -----------------------------------------------------------------------------

/** What a signer sees of an outgoing request: exactly what will be sent. */
export interface OutgoingPeerRequest {
  method: 'GET' | 'POST';
  /** The Host header the request goes out with ("host:port" of the URL). */
  authority: string;
  path: string;
  body: string;
  /** The unit the request is meant for, or ANY_RECEIVER on a discovery poll. */
  receiver: string;
  /** What to add to this unit's wall clock to read the receiver's (see PeerClockOffsets). */
  clockOffsetMs?: number;
}

export interface PeerSignerOptions {
  secret: string;
  /** This unit's id (the SENDER_HEADER the client sends). */
  unitId: string;
  /** Wall-clock milliseconds (default Date.now). */
  wallClock?: () => number;
  /** Default: 16 random bytes, base64url. */
  newNonce?: () => string;
}

/** The headers that authenticate one outgoing request (sender and receiver headers included). */
export function signPeerRequest(request: OutgoingPeerRequest, options: PeerSignerOptions): Record<string, string> {
  const timestamp = String(Math.max(0, Math.round((options.wallClock ?? Date.now)() + (request.clockOffsetMs ?? 0))));
  const nonce = (options.newNonce ?? (() => randomBytes(16).toString('base64url')))();
  const signature = computeRequestSignature(options.secret, {
    method: request.method,
    authority: request.authority,
    path: request.path,
    sender: options.unitId,
    receiver: request.receiver,
    timestamp,
    nonce,
    body: request.body,
  });
  return {
    [SENDER_HEADER]: options.unitId,
    [RECEIVER_HEADER]: request.receiver,
    [TIMESTAMP_HEADER]: timestamp,
    [NONCE_HEADER]: nonce,
    [SIGNATURE_HEADER]: signature,
  };
}

/** What the asking unit checks of an answer: the request as it sent it, and the answer as received. */
export interface IncomingPeerAnswer {
  request: OutgoingPeerRequest & { headers: Record<string, string> };
  status: number;
  headers: { get(name: string): string | null };
  body: string;
}

export type AnswerCheck =
  | { ok: true; responder: string; /** The responder's signed wall clock, ms (null when the answer carries none). */ peerTimeMs: number | null }
  | { ok: false; reason: string };

/**
 * Checks that an answer comes from a unit of the site, answers exactly the request this unit sent
 * (its nonce, method, Host and path), and comes from the unit the request was meant for (any unit,
 * on a discovery poll). Only such an answer may tell this unit anything, its clock included.
 */
export function verifyPeerAnswer(secret: string, ownUnitId: string, answer: IncomingPeerAnswer): AnswerCheck {
  const given = answer.headers.get(RESPONSE_SIGNATURE_HEADER);
  const responder = answer.headers.get(RESPONDER_HEADER);
  const time = answer.headers.get(PEER_TIME_HEADER);
  if (given === null) return { ok: false, reason: `not signed (${answer.status})` };
  const version = OTHER_VERSION_PATTERN.exec(given);
  if (version && version[1] !== String(UNIT_PROTOCOL_VERSION)) {
    return {
      ok: false,
      reason: `the answering unit speaks unit protocol v${version[1]}, this unit v${UNIT_PROTOCOL_VERSION}: run the same pi-intercom version on every unit of the site`,
    };
  }
  if (!SIGNATURE_PATTERN.test(given) || responder === null || !UNIT_ID_PATTERN.test(responder) || time === null || !TIMESTAMP_PATTERN.test(time)) {
    return { ok: false, reason: `malformed answer signature (${answer.status})` };
  }
  const { request } = answer;
  const nonce = request.headers[NONCE_HEADER];
  if (typeof nonce !== 'string') return { ok: false, reason: 'the request was not signed' };
  const expected = computeAnswerSignature(secret, {
    method: request.method,
    authority: request.authority,
    path: request.path,
    requester: ownUnitId,
    responder,
    requestNonce: nonce,
    status: answer.status,
    time,
    body: answer.body,
  });
  if (!sameSignature(expected, given)) return { ok: false, reason: `not signed with this site's secret for this request (${answer.status})` };
  if (request.receiver !== ANY_RECEIVER && responder !== request.receiver) {
    return { ok: false, reason: `answered by unit ${responder}, not by ${request.receiver}` };
  }
  return { ok: true, responder, peerTimeMs: Number(time) };
}

// ---- the answering side --------------------------------------------------------------------------

/** What a verifier sees of an incoming unit-to-unit request: method, path, headers (Host included), exact body. */
export interface IncomingPeerRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
}

/**
 * Signs the answer to a request that proved to come from `requester`: the headers to add. Never
 * called for a request that did not (see PeerRequestAuthenticator), so a stranger cannot obtain a
 * signature over anything it chose.
 */
export function signPeerAnswer(
  options: { secret: string; unitId: string; wallClock?: () => number },
  answer: { request: IncomingPeerRequest; requester: string; status: number; body: string },
): Record<string, string> {
  const nonce = answer.request.headers[NONCE_HEADER];
  const host = answer.request.headers.host;
  if (typeof nonce !== 'string' || typeof host !== 'string') return {};
  const time = String(Math.round((options.wallClock ?? Date.now)()));
  const signature = computeAnswerSignature(options.secret, {
    method: answer.request.method,
    authority: host,
    path: answer.request.url,
    requester: answer.requester,
    responder: options.unitId,
    requestNonce: nonce,
    status: answer.status,
    time,
    body: answer.body,
  });
  return { [RESPONDER_HEADER]: options.unitId, [PEER_TIME_HEADER]: time, [RESPONSE_SIGNATURE_HEADER]: signature };
}

export interface PeerVerifierOptions {
  secret: string;
  /** This unit's id: requests must be addressed to it (or to anyone, on the discovery poll). */
  unitId: string;
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

const REASON_MESSAGES: Record<RejectionReason, string> = {
  'missing-headers': 'unit-to-unit request refused: it is not signed',
  'malformed-headers': 'unit-to-unit request refused: malformed authentication headers',
  'protocol-version': `unit-to-unit request refused: this unit speaks unit protocol v${UNIT_PROTOCOL_VERSION}; run the same pi-intercom version on every unit of the site`,
  'bad-signature': 'unit-to-unit request refused: not signed with this site\'s secret for this unit\'s address',
  'wrong-receiver': 'unit-to-unit request refused: it is addressed to another unit',
  'clock-skew': 'unit-to-unit request refused: its timestamp is outside this unit\'s window (the answer carries this unit\'s time)',
  'replayed-nonce': 'unit-to-unit request refused: replayed',
  'replay-cache-full': 'unit-to-unit request refused: too many requests in the freshness window',
};

const REASON_HINTS: Partial<Record<RejectionReason, string>> = {
  'bad-signature':
    'the sender does not share this site secret (another site, a stranger, or a unit whose secret was not copied), or the request was relayed through another address',
  'clock-skew': "the sender's clock and this unit's clock differ by more than site.maxClockSkewMs",
  'missing-headers': 'the sender does not sign its requests (another site, a stranger, or an old version)',
  'protocol-version': 'the sender runs another pi-intercom version: update every unit of the site',
  'wrong-receiver': 'a unit sent a request meant for another unit here (an address reused, or a relay)',
};

function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined | null {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : null;
}

/**
 * Checks incoming unit-to-unit requests and counts what it refuses. The signature is checked before
 * the receiver, the timestamp and the nonce, so a refusal for any of those names an authentic sender,
 * and a stranger can neither fill the replay cache nor learn anything but "bad-signature".
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
  private secret: string;
  /**
   * The secret each verdict was reached with: an answer is signed with the secret its request was
   * checked with, so a request that switches the secret (a rotation) gets an answer its sender, who
   * still holds the old one, can check.
   */
  private readonly secretOfVerdict = new WeakMap<VerifyResult, string>();

  constructor(private readonly options: PeerVerifierOptions) {
    this.wallClock = options.wallClock ?? Date.now;
    this.secret = options.secret;
    this.replay = new ReplayCache({ retainMs: options.maxClockSkewMs, maxEntries: options.maxRememberedNonces ?? 10_000 });
  }

  /** The site secret changed (the unit joined, left or its site rotated): requests are judged by the new one from now on. */
  setSecret(secret: string): void {
    this.secret = secret;
  }

  verify(request: IncomingPeerRequest): VerifyResult {
    const result = this.check(request);
    this.secretOfVerdict.set(result, this.secret);
    if (result.ok) {
      this.counts.accepted += 1;
    } else {
      this.counts.rejected += 1;
      this.counts.rejectedByReason[result.reason] += 1;
      this.logRejection(result.reason, request);
    }
    return result;
  }

  /** Signs the answer to a request `verify` judged (only when it came from a unit of the site). */
  signAnswer(verdict: VerifyResult, answer: { request: IncomingPeerRequest; status: number; body: string }): Record<string, string> {
    const requester = verdict.ok ? verdict.unitId : verdict.authenticSender;
    if (requester === undefined) return {};
    return signPeerAnswer({ secret: this.secretOfVerdict.get(verdict) ?? this.secret, unitId: this.options.unitId, wallClock: this.wallClock }, { ...answer, requester });
  }

  counters(): PeerAuthCounters {
    return { accepted: this.counts.accepted, rejected: this.counts.rejected, rejectedByReason: { ...this.counts.rejectedByReason } };
  }

  /** How many nonces are remembered now (bounded by maxRememberedNonces). */
  get rememberedNonces(): number {
    return this.replay.size;
  }

  private refuse(reason: RejectionReason, authenticSender?: string): VerifyResult {
    return { ok: false, reason, message: REASON_MESSAGES[reason], ...(authenticSender !== undefined ? { authenticSender } : {}) };
  }

  private check(request: IncomingPeerRequest): VerifyResult {
    const sender = singleHeader(request.headers, SENDER_HEADER);
    const receiver = singleHeader(request.headers, RECEIVER_HEADER);
    const timestamp = singleHeader(request.headers, TIMESTAMP_HEADER);
    const nonce = singleHeader(request.headers, NONCE_HEADER);
    const signature = singleHeader(request.headers, SIGNATURE_HEADER);
    const host = singleHeader(request.headers, 'host');
    if (typeof signature === 'string') {
      const version = OTHER_VERSION_PATTERN.exec(signature);
      if (version && version[1] !== String(UNIT_PROTOCOL_VERSION)) return this.refuse('protocol-version');
    }
    if (sender === undefined || receiver === undefined || timestamp === undefined || nonce === undefined || signature === undefined || host === undefined) {
      return this.refuse('missing-headers');
    }
    if (
      sender === null ||
      receiver === null ||
      timestamp === null ||
      nonce === null ||
      signature === null ||
      host === null ||
      !UNIT_ID_PATTERN.test(sender) ||
      !(receiver === ANY_RECEIVER || UNIT_ID_PATTERN.test(receiver)) ||
      !AUTHORITY_PATTERN.test(host) ||
      !TIMESTAMP_PATTERN.test(timestamp) ||
      !NONCE_PATTERN.test(nonce) ||
      !SIGNATURE_PATTERN.test(signature)
    ) {
      return this.refuse('malformed-headers');
    }
    const expected = computeRequestSignature(this.secret, {
      method: request.method,
      authority: host,
      path: request.url,
      sender,
      receiver,
      timestamp,
      nonce,
      body: request.rawBody,
    });
    if (!sameSignature(expected, signature)) return this.refuse('bad-signature');
    // From here on the sender is a unit of the site.
    const forAnyone = receiver === ANY_RECEIVER && request.method === 'GET' && request.url === DISCOVERY_PATH;
    if (receiver !== this.options.unitId && !forAnyone) return this.refuse('wrong-receiver');
    const now = this.wallClock();
    const stampedAt = Number(timestamp);
    // The one refusal that is answered signed: the sender needs this unit's time to stamp its next request.
    if (Math.abs(now - stampedAt) > this.options.maxClockSkewMs) return this.refuse('clock-skew', sender);
    const verdict = this.replay.admit(nonce, stampedAt, now);
    if (verdict === 'replayed') return this.refuse('replayed-nonce');
    if (verdict === 'cache-full') return this.refuse('replay-cache-full');
    return { ok: true, unitId: sender };
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


/** The peer client's side for this unit: signs its requests, checks the answers (see PeerClient). */
export function createPeerClientAuth(options: { secret: string | (() => string); unitId: string; wallClock?: () => number }): {
  sign(request: OutgoingPeerRequest): Record<string, string>;
  verifyAnswer(answer: IncomingPeerAnswer): AnswerCheck;
} {
  // A function: the unit's secret can change while it runs (joining or leaving a site).
  const secretNow = typeof options.secret === 'function' ? options.secret : () => options.secret as string;
  return {
    sign: (request) => signPeerRequest(request, { ...options, secret: secretNow() }),
    verifyAnswer: (answer) => verifyPeerAnswer(secretNow(), options.unitId, answer),
  };
}
