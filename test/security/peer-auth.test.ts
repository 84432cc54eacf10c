import test from 'ava';
import type { IncomingHttpHeaders } from 'node:http';
import {
  NONCE_HEADER,
  PeerRequestAuthenticator,
  REJECTION_REASONS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  canonicalString,
  computeResponseSignature,
  verifyPeerResponse,
  signPeerRequest,
  type RejectionReason,
} from '../../src/security/peer-auth.js';
import { SENDER_HEADER } from '../../src/peers/peer-protocol.js';
import type { IncomingPeerRequest } from '../../src/signaling/unit-routes.js';
import type { OutgoingPeerRequest } from '../../src/peers/peer-client.js';

const SECRET = 'the-site-secret-of-the-test-site';
const OTHER_SECRET = 'the-secret-of-some-other-site-xx';
const UNIT_ID = '11111111-2222-3333-4444-555555555555';
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
    headers: { [SENDER_HEADER]: unitId, 'content-type': 'application/json', ...headers },
  };
}

const OFFER: OutgoingPeerRequest = { method: 'POST', path: '/api/unit/calls', body: '{"callId":"abcdefgh-1234","callee":{"user":"Kitchen"}}' };
const INFO: OutgoingPeerRequest = { method: 'GET', path: '/api/unit/info', body: '' };

function authenticator(clock = manualClock(), maxRememberedNonces?: number) {
  return new PeerRequestAuthenticator({ secret: SECRET, maxClockSkewMs: SKEW_MS, wallClock: clock.now, maxRememberedNonces });
}

function zeroCounts(): Record<RejectionReason, number> {
  return Object.fromEntries(REJECTION_REASONS.map((reason) => [reason, 0])) as Record<RejectionReason, number>;
}

test('a request signed with the site secret is accepted, GET and POST', (t) => {
  const auth = authenticator();
  t.deepEqual(auth.verify(signed(OFFER)), { ok: true, unitId: UNIT_ID });
  t.deepEqual(auth.verify(signed(INFO)), { ok: true, unitId: UNIT_ID });
  t.deepEqual(auth.counters(), { accepted: 2, rejected: 0, rejectedByReason: zeroCounts() });
  t.true(auth.verifier(signed(INFO)));
});

test('the signature headers have the documented form', (t) => {
  const headers = signPeerRequest(OFFER, { secret: SECRET, unitId: UNIT_ID, wallClock: () => T0 });
  t.is(headers[TIMESTAMP_HEADER], String(T0));
  t.regex(headers[NONCE_HEADER]!, /^[A-Za-z0-9_-]{22}$/);
  t.regex(headers[SIGNATURE_HEADER]!, /^v1=[0-9a-f]{64}$/);
  const again = signPeerRequest(OFFER, { secret: SECRET, unitId: UNIT_ID, wallClock: () => T0 });
  t.not(again[NONCE_HEADER], headers[NONCE_HEADER], 'a fresh nonce per request');
  t.not(again[SIGNATURE_HEADER], headers[SIGNATURE_HEADER]);
  const canonical = canonicalString({ method: 'post', path: '/api/unit/calls', unitId: UNIT_ID, timestamp: '1', nonce: 'n', body: '' });
  t.deepEqual(canonical.split('\n'), [
    'intercom-peer-v1',
    'POST',
    '/api/unit/calls',
    UNIT_ID,
    '1',
    'n',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', // SHA-256 of the empty body
  ]);
});

test('a request signed with another secret is refused as bad-signature', (t) => {
  const auth = authenticator();
  t.deepEqual(auth.verify(signed(OFFER, { secret: OTHER_SECRET })), { ok: false, reason: 'bad-signature' });
  t.false(auth.verifier(signed(INFO, { secret: OTHER_SECRET })));
  t.deepEqual(auth.counters(), { accepted: 0, rejected: 2, rejectedByReason: { ...zeroCounts(), 'bad-signature': 2 } });
});

test('tampering with the body, path, method or sender breaks the signature', (t) => {
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
  ];
  for (const [index, request] of tampered.entries()) {
    t.deepEqual(auth.verify(request), { ok: false, reason: 'bad-signature' }, `case ${index}`);
  }
  t.is(auth.counters().rejectedByReason['bad-signature'], tampered.length);
  t.is(auth.counters().accepted, 0);
});

test('timestamps more than the allowed skew in the past or future are refused; within it accepted', (t) => {
  const clock = manualClock();
  const auth = authenticator(clock);
  t.deepEqual(auth.verify(signed(INFO, { at: T0 - SKEW_MS - 1 })), { ok: false, reason: 'clock-skew' });
  t.deepEqual(auth.verify(signed(INFO, { at: T0 + SKEW_MS + 1 })), { ok: false, reason: 'clock-skew' });
  t.true(auth.verify(signed(INFO, { at: T0 - SKEW_MS })).ok);
  t.true(auth.verify(signed(INFO, { at: T0 + SKEW_MS })).ok);
  // A request delayed (or held back by an attacker) past the window is refused on arrival.
  const held = signed(OFFER, { at: T0 });
  clock.advance(SKEW_MS + 1);
  t.deepEqual(auth.verify(held), { ok: false, reason: 'clock-skew' });
  t.deepEqual(auth.counters().rejectedByReason, { ...zeroCounts(), 'clock-skew': 3 });
});

test('a replayed request is refused, and a nonce is good for one request only', (t) => {
  const clock = manualClock();
  const auth = authenticator(clock);
  const request = signed(OFFER);
  t.true(auth.verify(request).ok);
  clock.advance(1000);
  t.deepEqual(auth.verify(request), { ok: false, reason: 'replayed-nonce' });
  t.deepEqual(auth.verify({ ...request }), { ok: false, reason: 'replayed-nonce' });
  // The same nonce in a different, properly signed request is a replay too (nonces are single-use).
  t.deepEqual(auth.verify(signed(INFO, { nonce: request.headers[NONCE_HEADER] as string })), { ok: false, reason: 'replayed-nonce' });
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
  for (const name of [SENDER_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER]) {
    t.deepEqual(auth.verify(without(name)), { ok: false, reason: 'missing-headers' }, name);
  }
  t.deepEqual(auth.verify({ ...good, headers: {} }), { ok: false, reason: 'missing-headers' });
  const malformed: [string, string | string[]][] = [
    [TIMESTAMP_HEADER, 'yesterday'],
    [TIMESTAMP_HEADER, '-1'],
    [NONCE_HEADER, 'short'],
    [NONCE_HEADER, 'has spaces in the nonce value'],
    [SIGNATURE_HEADER, 'v1=abc'],
    [SIGNATURE_HEADER, `v2=${'0'.repeat(64)}`],
    [SIGNATURE_HEADER, [good.headers[SIGNATURE_HEADER] as string, good.headers[SIGNATURE_HEADER] as string]],
    [SENDER_HEADER, ''],
    [SENDER_HEADER, 'x'.repeat(65)],
  ];
  for (const [name, value] of malformed) {
    t.deepEqual(auth.verify(withHeader(name, value)), { ok: false, reason: 'malformed-headers' }, `${name}: ${String(value)}`);
  }
  t.deepEqual(auth.counters().rejectedByReason, { ...zeroCounts(), 'missing-headers': 5, 'malformed-headers': malformed.length });
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
  t.deepEqual(auth.verify(first), { ok: false, reason: 'replay-cache-full' });
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
  const auth = new PeerRequestAuthenticator({ secret: SECRET, maxClockSkewMs: SKEW_MS, wallClock: clock.now, logger, logIntervalMs: 60_000 });
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

test('response signatures bind the request nonce, the status, the answering clock and the body', (t) => {
  const answer = { requestNonce: 'nonce-of-the-request-1', status: 200, time: '1764000000000', body: '{"unitId":"x"}' };
  const signature = computeResponseSignature(SECRET, answer);
  t.regex(signature, /^v1=[0-9a-f]{64}$/);
  t.true(verifyPeerResponse(SECRET, { ...answer, signature }));
  t.false(verifyPeerResponse(OTHER_SECRET, { ...answer, signature }), 'another site');
  t.false(verifyPeerResponse(SECRET, { ...answer, requestNonce: 'nonce-of-another-request', signature }), 'replayed to another request');
  t.false(verifyPeerResponse(SECRET, { ...answer, status: 404, signature }), 'status changed');
  t.false(verifyPeerResponse(SECRET, { ...answer, time: '1764000360000', signature }), 'time changed');
  t.false(verifyPeerResponse(SECRET, { ...answer, body: '{"unitId":"y"}', signature }), 'body changed');
  for (const missing of [undefined, null, '', 'v1=00', signature.toUpperCase()]) {
    t.false(verifyPeerResponse(SECRET, { ...answer, signature: missing }), String(missing));
  }
});
