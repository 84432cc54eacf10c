import test from 'ava';
import type { IncomingHttpHeaders } from 'node:http';
import {
  NONCE_HEADER,
  PEER_TIME_HEADER,
  PeerRequestAuthenticator,
  REJECTION_REASONS,
  RESPONDER_HEADER,
  RESPONSE_SIGNATURE_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  canonicalRequest,
  signPeerRequest,
  verifyPeerAnswer,
  type IncomingPeerAnswer,
  type RejectionReason,
} from '../../src/security/peer-auth.js';
import { ANY_RECEIVER, RECEIVER_HEADER, SENDER_HEADER } from '../../src/peers/peer-protocol.js';
import type { IncomingPeerRequest } from '../../src/signaling/unit-routes.js';
import type { OutgoingPeerRequest } from '../../src/peers/peer-client.js';

const SECRET = 'the-site-secret-of-the-test-site';
const OTHER_SECRET = 'the-secret-of-some-other-site-xx';
const UNIT_ID = '11111111-2222-3333-4444-555555555555';
/** The unit the requests are for (the authenticator's own id). */
const RECEIVER_ID = '99999999-8888-7777-6666-555555555555';
const AUTHORITY = '10.0.0.9:5000';
const SKEW_MS = 30_000;
const T0 = 1_750_000_000_000;

/** A wall clock the test moves by hand. */
function manualClock(start = T0) {
  let now = start;
  return { now: () => now, set: (value: number) => (now = value), advance: (ms: number) => (now += ms) };
}

let nonceCounter = 0;
const nextNonce = () => `nonce-${String(nonceCounter++).padStart(12, '0')}`;

/** What the receiving route sees for a request signed by the client side. */
function signed(
  request: OutgoingPeerRequest,
  options: { secret?: string; at?: number; nonce?: string; unitId?: string } = {},
): IncomingPeerRequest {
  const unitId = options.unitId ?? UNIT_ID;
  const headers = signPeerRequest(request, {
    secret: options.secret ?? SECRET,
    unitId,
    wallClock: () => options.at ?? T0,
    newNonce: options.nonce ? () => options.nonce! : nextNonce,
  });
  return {
    method: request.method,
    url: request.path,
    rawBody: request.body,
    headers: { host: request.authority, 'content-type': 'application/json', ...headers },
  };
}

const OFFER: OutgoingPeerRequest = {
  method: 'POST',
  authority: AUTHORITY,
  path: '/api/unit/calls',
  body: '{"callId":"abcdefgh-1234","callee":{"user":"Kitchen"}}',
  receiver: RECEIVER_ID,
};
const INFO: OutgoingPeerRequest = { method: 'GET', authority: AUTHORITY, path: '/api/unit/info', body: '', receiver: RECEIVER_ID };

function authenticator(clock = manualClock(), maxRememberedNonces?: number) {
  return new PeerRequestAuthenticator({ secret: SECRET, unitId: RECEIVER_ID, maxClockSkewMs: SKEW_MS, wallClock: clock.now, maxRememberedNonces });
}

/** Strips the message off a refusal, to compare verdicts. */
function verdictOf(auth: PeerRequestAuthenticator, request: IncomingPeerRequest) {
  const { message: _message, ...verdict } = auth.verify(request) as { message?: string };
  return verdict;
}

function zeroCounts(): Record<RejectionReason, number> {
  return Object.fromEntries(REJECTION_REASONS.map((reason) => [reason, 0])) as Record<RejectionReason, number>;
}

test('a request signed with the site secret is accepted, GET and POST', (t) => {
  const auth = authenticator();
  t.deepEqual(auth.verify(signed(OFFER)), { ok: true, unitId: UNIT_ID });
  t.deepEqual(auth.verify(signed(INFO)), { ok: true, unitId: UNIT_ID });
  t.deepEqual(auth.verify(signed({ ...INFO, receiver: ANY_RECEIVER })), { ok: true, unitId: UNIT_ID }, 'the discovery poll, addressed to whoever answers');
  t.deepEqual(auth.counters(), { accepted: 3, rejected: 0, rejectedByReason: zeroCounts() });
});

test('a request for another unit, or for anyone outside the discovery poll, is refused as wrong-receiver', (t) => {
  const auth = authenticator();
  t.like(auth.verify(signed({ ...OFFER, receiver: '12345678-0000-0000-0000-000000000000' })), { ok: false, reason: 'wrong-receiver' });
  t.like(auth.verify(signed({ ...OFFER, receiver: ANY_RECEIVER })), { ok: false, reason: 'wrong-receiver' });
  t.like(auth.verify(signed({ ...INFO, path: '/api/unit/calls/abcdefgh-1234', receiver: ANY_RECEIVER })), { ok: false, reason: 'wrong-receiver' });
  t.is(auth.counters().rejectedByReason['wrong-receiver'], 3);
});

test('a request of protocol v1 is refused with a message that says so', (t) => {
  const auth = authenticator();
  const request = signed(OFFER);
  const v1 = { ...request, headers: { ...request.headers, [SIGNATURE_HEADER]: `v1=${'0'.repeat(64)}` } };
  const verdict = auth.verify(v1);
  t.like(verdict, { ok: false, reason: 'protocol-version' });
  t.regex((verdict as { message: string }).message, /protocol v2.*same pi-intercom version/);
});

test('the signature headers have the documented form', (t) => {
  const headers = signPeerRequest(OFFER, { secret: SECRET, unitId: UNIT_ID, wallClock: () => T0 });
  t.is(headers[TIMESTAMP_HEADER], String(T0));
  t.regex(headers[NONCE_HEADER]!, /^[A-Za-z0-9_-]{22}$/);
  t.regex(headers[SIGNATURE_HEADER]!, /^v2=[0-9a-f]{64}$/);
  t.is(headers[SENDER_HEADER], UNIT_ID);
  t.is(headers[RECEIVER_HEADER], RECEIVER_ID);
  const again = signPeerRequest(OFFER, { secret: SECRET, unitId: UNIT_ID, wallClock: () => T0 });
  t.not(again[NONCE_HEADER], headers[NONCE_HEADER], 'a fresh nonce per request');
  t.not(again[SIGNATURE_HEADER], headers[SIGNATURE_HEADER]);
  const canonical = canonicalRequest({ method: 'post', authority: '10.0.0.9:5000', path: '/api/unit/calls', sender: UNIT_ID, receiver: RECEIVER_ID, timestamp: '1', nonce: 'n', body: '' });
  t.deepEqual(canonical.split('\n'), [
    'intercom-peer-request-v2',
    'POST',
    '10.0.0.9:5000',
    '/api/unit/calls',
    UNIT_ID,
    RECEIVER_ID,
    '1',
    'n',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', // SHA-256 of the empty body
  ]);
});

test('a request signed with another secret is refused as bad-signature', (t) => {
  const auth = authenticator();
  t.deepEqual(verdictOf(auth, signed(OFFER, { secret: OTHER_SECRET })), { ok: false, reason: 'bad-signature' });
  t.like(auth.verify(signed(INFO, { secret: OTHER_SECRET })), { ok: false });
  t.deepEqual(auth.counters(), { accepted: 0, rejected: 2, rejectedByReason: { ...zeroCounts(), 'bad-signature': 2 } });
});

test('tampering with the body, path, method, sender, receiver or Host breaks the signature', (t) => {
  const auth = authenticator();
  const tampered: IncomingPeerRequest[] = [
    { ...signed(OFFER), rawBody: OFFER.body.replace('Kitchen', 'Garage') },
    { ...signed(OFFER), rawBody: `${OFFER.body} ` },
    { ...signed(OFFER), url: '/api/unit/calls?x=1' },
    { ...signed(INFO), url: '/api/unit/calls/abcdefgh-1234' },
    { ...signed(INFO), method: 'POST' },
    (() => {
      const request = signed(OFFER);
      return { ...request, headers: { ...request.headers, [SENDER_HEADER]: '99999999-2222-3333-4444-555555555555' } };
    })(),
    (() => {
      const request = signed(OFFER);
      return { ...request, headers: { ...request.headers, [TIMESTAMP_HEADER]: String(T0 + 1) } };
    })(),
    (() => {
      const request = signed(OFFER);
      return { ...request, headers: { ...request.headers, [NONCE_HEADER]: 'another-nonce-0000000' } };
    })(),
    // Sent to a relay's address and forwarded with the Host rewritten to the unit's own.
    (() => {
      const request = signed({ ...OFFER, authority: '10.0.0.66:5000' });
      return { ...request, headers: { ...request.headers, host: AUTHORITY } };
    })(),
    // Signed for another unit and re-addressed.
    (() => {
      const request = signed({ ...OFFER, receiver: '12345678-0000-0000-0000-000000000000' });
      return { ...request, headers: { ...request.headers, [RECEIVER_HEADER]: RECEIVER_ID } };
    })(),
  ];
  for (const [index, request] of tampered.entries()) {
    t.deepEqual(verdictOf(auth, request), { ok: false, reason: 'bad-signature' }, `case ${index}`);
  }
  t.is(auth.counters().rejectedByReason['bad-signature'], tampered.length);
  t.is(auth.counters().accepted, 0);
});

test('timestamps more than the allowed skew in the past or future are refused; within it accepted', (t) => {
  const clock = manualClock();
  const auth = authenticator(clock);
  t.deepEqual(verdictOf(auth, signed(INFO, { at: T0 - SKEW_MS - 1 })), { ok: false, reason: 'clock-skew', authenticSender: UNIT_ID });
  t.deepEqual(verdictOf(auth, signed(INFO, { at: T0 + SKEW_MS + 1 })), { ok: false, reason: 'clock-skew', authenticSender: UNIT_ID });
  t.true(auth.verify(signed(INFO, { at: T0 - SKEW_MS })).ok);
  t.true(auth.verify(signed(INFO, { at: T0 + SKEW_MS })).ok);
  // A request delayed (or held back by an attacker) past the window is refused on arrival.
  const held = signed(OFFER, { at: T0 });
  clock.advance(SKEW_MS + 1);
  t.deepEqual(verdictOf(auth, held), { ok: false, reason: 'clock-skew', authenticSender: UNIT_ID });
  t.deepEqual(auth.counters().rejectedByReason, { ...zeroCounts(), 'clock-skew': 3 });
});

test('a replayed request is refused, and a nonce is good for one request only', (t) => {
  const clock = manualClock();
  const auth = authenticator(clock);
  const request = signed(OFFER);
  t.true(auth.verify(request).ok);
  clock.advance(1000);
  t.deepEqual(verdictOf(auth, request), { ok: false, reason: 'replayed-nonce' });
  t.deepEqual(verdictOf(auth, { ...request }), { ok: false, reason: 'replayed-nonce' });
  // The same nonce in a different, properly signed request is a replay too (nonces are single-use).
  t.deepEqual(verdictOf(auth, signed(INFO, { nonce: request.headers[NONCE_HEADER] as string })), { ok: false, reason: 'replayed-nonce' });
  t.deepEqual(auth.counters(), { accepted: 1, rejected: 3, rejectedByReason: { ...zeroCounts(), 'replayed-nonce': 3 } });
});

test('missing and malformed headers are refused with their own reasons', (t) => {
  const auth = authenticator();
  const good = signed(OFFER);
  const without = (name: string): IncomingPeerRequest => {
    const headers: IncomingHttpHeaders = { ...good.headers };
    delete headers[name];
    return { ...good, headers };
  };
  const withHeader = (name: string, value: string | string[]): IncomingPeerRequest => ({ ...good, headers: { ...good.headers, [name]: value } });
  const required = [SENDER_HEADER, RECEIVER_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER, 'host'];
  for (const name of required) {
    t.deepEqual(verdictOf(auth, without(name)), { ok: false, reason: 'missing-headers' }, name);
  }
  t.deepEqual(verdictOf(auth, { ...good, headers: {} }), { ok: false, reason: 'missing-headers' });
  const malformed: [string, string | string[]][] = [
    [TIMESTAMP_HEADER, 'yesterday'],
    [TIMESTAMP_HEADER, '-1'],
    [NONCE_HEADER, 'short'],
    [NONCE_HEADER, 'has spaces in the nonce value'],
    [SIGNATURE_HEADER, 'v2=abc'],
    [SIGNATURE_HEADER, `v2=${'0'.repeat(63)}g`],
    [SIGNATURE_HEADER, [good.headers[SIGNATURE_HEADER] as string, good.headers[SIGNATURE_HEADER] as string]],
    [SENDER_HEADER, ''],
    [SENDER_HEADER, 'x'.repeat(65)],
    [RECEIVER_HEADER, 'someone\nelse'],
    ['host', 'a host with spaces'],
  ];
  for (const [name, value] of malformed) {
    t.deepEqual(verdictOf(auth, withHeader(name, value)), { ok: false, reason: 'malformed-headers' }, `${name}: ${String(value)}`);
  }
  t.deepEqual(auth.counters().rejectedByReason, { ...zeroCounts(), 'missing-headers': required.length + 1, 'malformed-headers': malformed.length });
  t.true(auth.verify(good).ok, 'the untouched request still passes');
});

test('the replay cache stays bounded, and a forgotten nonce still cannot be replayed', (t) => {
  const clock = manualClock();
  const capacity = 100;
  const auth = authenticator(clock, capacity);
  const first = signed(INFO, { at: clock.now() });
  t.true(auth.verify(first).ok);
  // Many more honest requests within one window than the cache holds.
  for (let index = 0; index < 1000; index += 1) {
    clock.advance(5);
    t.true(auth.verify(signed(INFO, { at: clock.now() })).ok);
    t.true(auth.rememberedNonces <= capacity);
  }
  t.is(auth.rememberedNonces, capacity);
  // `first` was forgotten long ago, but it is still inside the time window: refused all the same.
  t.true(clock.now() - T0 < SKEW_MS);
  t.deepEqual(verdictOf(auth, first), { ok: false, reason: 'replay-cache-full' });
  // Current requests are still accepted.
  t.true(auth.verify(signed(INFO, { at: clock.now() })).ok);
  t.is(auth.counters().accepted, 1002);
});

test('remembered nonces expire with the time window', (t) => {
  const clock = manualClock();
  const auth = authenticator(clock);
  for (let index = 0; index < 50; index += 1) t.true(auth.verify(signed(INFO, { at: clock.now() })).ok);
  t.is(auth.rememberedNonces, 50);
  clock.advance(SKEW_MS + 1);
  t.true(auth.verify(signed(INFO, { at: clock.now() })).ok);
  t.is(auth.rememberedNonces, 1, 'only the newest nonce is still remembered');
});

test('rejections are logged at most once per reason per interval, with the count since', (t) => {
  const clock = manualClock();
  const lines: { object: Record<string, unknown>; msg: string }[] = [];
  const logger = { warn: (object: Record<string, unknown>, msg: string) => lines.push({ object, msg }) } as never;
  const auth = new PeerRequestAuthenticator({ secret: SECRET, unitId: RECEIVER_ID, maxClockSkewMs: SKEW_MS, wallClock: clock.now, logger, logIntervalMs: 60_000 });
  for (let index = 0; index < 10; index += 1) auth.verify(signed(INFO, { secret: OTHER_SECRET }));
  auth.verify({ ...signed(INFO), headers: {} });
  t.is(lines.length, 2);
  t.like(lines[0]!.object, { reason: 'bad-signature', refusedSinceLastReport: 1, sender: UNIT_ID });
  t.like(lines[1]!.object, { reason: 'missing-headers' });
  clock.advance(60_000);
  auth.verify(signed(INFO, { secret: OTHER_SECRET, at: clock.now() }));
  t.is(lines.length, 3);
  t.like(lines[2]!.object, { reason: 'bad-signature', refusedSinceLastReport: 10 });
  t.false(JSON.stringify(lines).includes(SECRET), 'the secret is never logged');
});

/** The answer the authenticator signs for `request` (status 200 and the given body), as the asking unit receives it. */
function answerTo(auth: PeerRequestAuthenticator, outgoing: OutgoingPeerRequest, body = '{"unitId":"x"}', status = 200) {
  const request = signed(outgoing);
  const verdict = auth.verify(request);
  const headers = new Headers(auth.signAnswer(verdict, { request, status, body }));
  const answer: IncomingPeerAnswer = { request: { ...outgoing, headers: request.headers as Record<string, string> }, status, headers, body };
  return { verdict, headers, answer };
}

test('answers are signed only for requests from a unit of the site, and bind the request, both units, status, time and body', (t) => {
  const clock = manualClock();
  const auth = authenticator(clock);
  const { headers, answer } = answerTo(auth, OFFER);
  t.regex(headers.get(RESPONSE_SIGNATURE_HEADER)!, /^v2=[0-9a-f]{64}$/);
  t.is(headers.get(RESPONDER_HEADER), RECEIVER_ID);
  t.is(headers.get(PEER_TIME_HEADER), String(T0));
  t.deepEqual(verifyPeerAnswer(SECRET, UNIT_ID, answer), { ok: true, responder: RECEIVER_ID, peerTimeMs: T0 });
  const changed = (what: string, change: (copy: IncomingPeerAnswer) => IncomingPeerAnswer) => t.false(verifyPeerAnswer(SECRET, UNIT_ID, change(answer)).ok, what);
  t.false(verifyPeerAnswer(OTHER_SECRET, UNIT_ID, answer).ok, 'another site');
  t.false(verifyPeerAnswer(SECRET, '12345678-0000-0000-0000-000000000000', answer).ok, 'to another asking unit');
  changed('to another request', (copy) => ({ ...copy, request: { ...copy.request, headers: { ...copy.request.headers, [NONCE_HEADER]: 'nonce-of-another-request' } } }));
  changed('for another path', (copy) => ({ ...copy, request: { ...copy.request, path: '/api/unit/info' } }));
  changed('for another address', (copy) => ({ ...copy, request: { ...copy.request, authority: '10.0.0.66:5000' } }));
  changed('status changed', (copy) => ({ ...copy, status: 404 }));
  changed('body changed', (copy) => ({ ...copy, body: '{"unitId":"y"}' }));
  const withHeader = (name: string, value: string) => {
    const copy = new Headers(headers);
    copy.set(name, value);
    return copy;
  };
  changed('time changed', (copy) => ({ ...copy, headers: withHeader(PEER_TIME_HEADER, String(T0 + 360_000)) }));
  changed('answering unit changed', (copy) => ({ ...copy, headers: withHeader(RESPONDER_HEADER, '12345678-0000-0000-0000-000000000000') }));
  for (const missing of ['', 'v2=00', headers.get(RESPONSE_SIGNATURE_HEADER)!.toUpperCase()]) {
    changed(`signature ${missing}`, (copy) => ({ ...copy, headers: withHeader(RESPONSE_SIGNATURE_HEADER, missing) }));
  }
  const v1 = verifyPeerAnswer(SECRET, UNIT_ID, { ...answer, headers: withHeader(RESPONSE_SIGNATURE_HEADER, `v1=${'0'.repeat(64)}`) });
  t.like(v1, { ok: false });
  t.regex((v1 as { reason: string }).reason, /protocol v1, this unit v2/);
  // The answer of another unit of the site, to a request meant for this one: refused.
  const other = new PeerRequestAuthenticator({ secret: SECRET, unitId: '12345678-0000-0000-0000-000000000000', maxClockSkewMs: SKEW_MS, wallClock: clock.now });
  const { answer: fromOther } = answerTo(other, { ...INFO, receiver: ANY_RECEIVER });
  t.like(verifyPeerAnswer(SECRET, UNIT_ID, { ...fromOther, request: { ...fromOther.request, receiver: RECEIVER_ID } }), { ok: false });
  t.like(verifyPeerAnswer(SECRET, UNIT_ID, fromOther), { ok: true, responder: '12345678-0000-0000-0000-000000000000' }, 'a discovery poll takes whoever answers');
});

test('nothing a stranger chooses is signed: refusals of unauthenticated requests carry no signature; a clock-skew refusal to a unit does', (t) => {
  const clock = manualClock();
  const auth = authenticator(clock);
  const stranger = signed(OFFER, { secret: OTHER_SECRET, nonce: 'chosen-by-the-stranger-1' });
  for (const request of [stranger, { ...stranger, headers: { host: AUTHORITY, [NONCE_HEADER]: 'chosen-by-the-stranger-2' } }]) {
    const verdict = auth.verify(request);
    t.false(verdict.ok);
    t.deepEqual(auth.signAnswer(verdict, { request, status: 401, body: '{}' }), {});
  }
  const replayed = signed(OFFER);
  t.true(auth.verify(replayed).ok);
  t.deepEqual(auth.signAnswer(auth.verify(replayed), { request: replayed, status: 401, body: '{}' }), {}, 'nor a replay');
  const late = signed(INFO, { at: T0 - 3_600_000 });
  const lateVerdict = auth.verify(late);
  t.like(lateVerdict, { ok: false, reason: 'clock-skew' });
  t.truthy(auth.signAnswer(lateVerdict, { request: late, status: 401, body: '{}' })[RESPONSE_SIGNATURE_HEADER], 'the asking unit needs the signed time');
});
