import test from 'ava';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { Unit } from '../../src/unit.js';
import { startUnit } from '../support/unit-harness.js';
import { testSiteSecret } from '../support/test-site.js';
import type { IntercomApp } from '../../src/signaling/app.js';
import { signPeerRequest } from '../../src/security/peer-auth.js';
import { SENDER_HEADER } from '../../src/peers/peer-protocol.js';
import type { SessionHeaders } from '../support/people-session.js';

// The unit-to-unit routes of a unit built with a site secret: through inject() for each kind of
// refusal, and over real HTTP between units that share, or do not share, the secret.

const SITE_SECRET = 'secret-of-the-test-site-0001';
const STRANGER_SECRET = 'secret-of-another-site-00002';
const SENDER_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const CALL_ID = '00000000-0000-4000-8000-000000000001';

interface SecuredUnit {
  services: Unit;
  app: IntercomApp;
  port: number;
  /** A person's logged-in session, for the public routes. */
  auth: SessionHeaders;
}


async function securedUnit(
  t: { teardown(fn: () => Promise<void>): void },
  name: string,
  secret: string,
  options: { listen?: boolean; maxClockSkewMs?: number } = {},
): Promise<SecuredUnit> {
  const unit = await startUnit(name, {
    siteSecret: testSiteSecret(secret),
    listen: options.listen ?? false,
    maxClockSkewMs: options.maxClockSkewMs ?? 30_000,
    // Generous timeouts: these tests must also pass on a loaded two-core machine.
    discovery: { offlineAfterMs: 10_000, requestTimeoutMs: 5000 },
  });
  t.teardown(() => unit.close());
  return { services: unit.unit, app: unit.app, port: unit.port, auth: unit.auth as SessionHeaders };
}

/** Headers a unit with `secret` would send with this request. */
function signedHeaders(unit: SecuredUnit, method: 'GET' | 'POST', url: string, body: string, secret = SITE_SECRET, at = Date.now()): Record<string, string> {
  return {
    ...(body ? { 'content-type': 'application/json' } : {}),
    // inject() sends Host localhost:80.
    ...signPeerRequest({ method, authority: 'localhost:80', path: url, body, receiver: unit.services.unitId }, { secret, unitId: SENDER_ID, wallClock: () => at }),
  };
}

async function peerRequests(unit: SecuredUnit) {
  const status = await unit.app.inject({ method: 'GET', url: '/api/status', headers: unit.auth });
  return status.json().security.peerRequests;
}

test('/api/unit/* answers 401 without a valid signature, counts each refusal by reason, and serves signed requests', async (t) => {
  const unit = await securedUnit(t, 'Hall', SITE_SECRET);
  await unit.services.users.add('Kitchen');
  t.like(await peerRequests(unit), { secretSource: 'config', maxClockSkewMs: 30_000, accepted: 0, rejected: 0 });

  const offer = JSON.stringify({
    callId: CALL_ID,
    caller: { user: 'Visitor', unitId: SENDER_ID, unitName: 'Gate', httpPort: 5000 },
    callee: { user: 'Nobody' },
  });
  const refusals: { name: string; method: 'GET' | 'POST'; url: string; payload?: string; headers: Record<string, string>; reason: string }[] = [
    { name: 'no headers', method: 'GET', url: '/api/unit/info', headers: {}, reason: 'missing-headers' },
    { name: 'only the sender header', method: 'POST', url: '/api/unit/calls', payload: offer, headers: { [SENDER_HEADER]: SENDER_ID, 'content-type': 'application/json' }, reason: 'missing-headers' },
    { name: 'another site', method: 'GET', url: '/api/unit/info', headers: signedHeaders(unit, 'GET', '/api/unit/info', '', STRANGER_SECRET), reason: 'bad-signature' },
    { name: 'tampered body', method: 'POST', url: '/api/unit/calls', payload: offer.replace('Nobody', 'Kitchen'), headers: signedHeaders(unit, 'POST', '/api/unit/calls', offer), reason: 'bad-signature' },
    { name: 'other path', method: 'GET', url: `/api/unit/calls/${CALL_ID}`, headers: signedHeaders(unit, 'GET', '/api/unit/info', ''), reason: 'bad-signature' },
    { name: 'other method', method: 'POST', url: `/api/unit/calls/${CALL_ID}/end`, payload: '{"reason":"hung-up"}', headers: signedHeaders(unit, 'GET', `/api/unit/calls/${CALL_ID}/end`, '{"reason":"hung-up"}'), reason: 'bad-signature' },
    { name: 'old', method: 'GET', url: '/api/unit/info', headers: signedHeaders(unit, 'GET', '/api/unit/info', '', SITE_SECRET, Date.now() - 120_000), reason: 'clock-skew' },
    { name: 'future', method: 'GET', url: '/api/unit/info', headers: signedHeaders(unit, 'GET', '/api/unit/info', '', SITE_SECRET, Date.now() + 120_000), reason: 'clock-skew' },
    { name: 'malformed', method: 'GET', url: '/api/unit/info', headers: { ...signedHeaders(unit, 'GET', '/api/unit/info', ''), 'x-intercom-signature': 'letmein' }, reason: 'malformed-headers' },
  ];
  for (const [index, refusal] of refusals.entries()) {
    const response = await unit.app.inject({ method: refusal.method, url: refusal.url, payload: refusal.payload, headers: refusal.headers });
    t.is(response.statusCode, 401, refusal.name);
    t.like(response.json(), { error: 'unauthorized' }, refusal.name);
    const counted = await peerRequests(unit);
    t.is(counted.rejected, index + 1, refusal.name);
    t.true(counted.rejectedByReason[refusal.reason] > 0, refusal.name);
  }
  const final = await peerRequests(unit);
  t.deepEqual(final.rejectedByReason, {
    'missing-headers': 2,
    'malformed-headers': 1,
    'protocol-version': 0,
    'bad-signature': 4,
    'wrong-receiver': 0,
    'clock-skew': 2,
    'replayed-nonce': 0,
    'replay-cache-full': 0,
  });
  t.is(final.accepted, 0);
  t.is(unit.services.calls.current(), null, 'nothing rang');

  // Properly signed: served. The same request again: a replay.
  const info = signedHeaders(unit, 'GET', '/api/unit/info', '');
  const served = await unit.app.inject({ method: 'GET', url: '/api/unit/info', headers: info });
  t.is(served.statusCode, 200);
  t.is(served.json().unitId, unit.services.unitId);
  const replayed = await unit.app.inject({ method: 'GET', url: '/api/unit/info', headers: info });
  t.is(replayed.statusCode, 401);
  const signedOffer = await unit.app.inject({ method: 'POST', url: '/api/unit/calls', payload: offer, headers: signedHeaders(unit, 'POST', '/api/unit/calls', offer) });
  t.is(signedOffer.statusCode, 404, 'a signed offer reaches the route (which knows no user "Nobody")');
  t.like(await peerRequests(unit), { accepted: 2, rejected: refusals.length + 1, rejectedByReason: { 'replayed-nonce': 1 } });
});

test('the public /api/* routes need a person\'s session, not the site secret; a unit\'s signature does not open them', async (t) => {
  const unit = await securedUnit(t, 'Hall', SITE_SECRET);
  const health = await unit.app.inject({ method: 'GET', url: '/api/health' });
  t.is(health.statusCode, 200);
  const signedOnly = await unit.app.inject({ method: 'POST', url: '/api/users/register', payload: '{"name":"Kitchen"}', headers: signedHeaders(unit, 'POST', '/api/users/register', '{"name":"Kitchen"}') });
  t.is(signedOnly.statusCode, 401, 'signed with the site secret, but no session');
  const registered = await unit.app.inject({ method: 'POST', url: '/api/users/register', payload: { name: 'Kitchen' }, headers: unit.auth });
  t.is(registered.statusCode, 201);
  const users = await unit.app.inject({ method: 'GET', url: '/api/users', headers: unit.auth });
  t.is(users.statusCode, 200);
  t.true(users.json().users.some((user: { name: string }) => user.name === 'Kitchen'));
  const status = await unit.app.inject({ method: 'GET', url: '/api/status', headers: unit.auth });
  t.is(status.statusCode, 200);
  t.false(status.body.includes(SITE_SECRET), 'the status never shows the secret');
  t.like(status.json().security.peerRequests, { accepted: 0, rejected: 0 });
});

test('over HTTP: units with the same secret see each other; a unit with another secret is refused and stays unknown', async (t) => {
  const [a, b, stranger] = await Promise.all([
    securedUnit(t, 'A', SITE_SECRET, { listen: true }),
    securedUnit(t, 'B', SITE_SECRET, { listen: true }),
    securedUnit(t, 'Stranger', STRANGER_SECRET, { listen: true }),
  ]);
  for (const unit of [a, b, stranger]) {
    for (const other of [a, b, stranger]) {
      if (other !== unit) unit.services.directory.addCandidate({ host: '127.0.0.1', port: other.port, source: 'static' });
    }
  }
  // Poll until the site's units have seen each other (and have asked the stranger at least once).
  for (let round = 0; round < 20; round += 1) {
    await Promise.all([a, b, stranger].map((unit) => unit.services.directory.refresh()));
    if (a.services.directory.peers().length > 0 && b.services.directory.peers().length > 0) break;
  }

  t.deepEqual(a.services.directory.peers().map((peer) => [peer.name, peer.online]), [['B', true]]);
  t.deepEqual(b.services.directory.peers().map((peer) => [peer.name, peer.online]), [['A', true]]);
  t.deepEqual(stranger.services.directory.peers(), []);
  for (const unit of [a, b]) {
    const counted = await peerRequests(unit);
    t.true(counted.accepted >= 1, 'the site peer was served');
    t.true(counted.rejectedByReason['bad-signature'] >= 1, "the stranger's poll was refused");
    t.is(counted.rejected, counted.rejectedByReason['bad-signature']);
  }
  t.true((await peerRequests(stranger)).rejectedByReason['bad-signature'] >= 2, "the site's polls were refused by the stranger");
});

test('over HTTP: a host that answers like a unit, without the secret, is neither listed nor able to take over a peer', async (t) => {
  const [a, b] = await Promise.all([securedUnit(t, 'A', SITE_SECRET, { listen: true }), securedUnit(t, 'B', SITE_SECRET, { listen: true })]);
  a.services.directory.addCandidate({ host: '127.0.0.1', port: b.port, source: 'static' });
  await a.services.directory.refresh();
  t.deepEqual(a.services.directory.peers().map((peer) => [peer.unitId, peer.address]), [[b.services.unitId, `127.0.0.1:${b.port}`]]);

  // Anyone on the LAN can announce itself over DNS-SD and answer polls; this one claims to be B,
  // and another claims to be a new unit with users of its own.
  const answered: Promise<void>[] = [];
  const impostors = await Promise.all(
    [b.services.unitId, 'ffffffff-0000-4000-8000-000000000000'].map(async (claimedId) => {
      let firstAnswer!: () => void;
      answered.push(new Promise<void>((resolve) => (firstAnswer = resolve)));
      const server = createServer((request, response) => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ unitId: claimedId, name: 'B', version: '0.0.0', httpPort: 1, users: ['Evil'], inCall: false }), () => firstAnswer());
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      t.teardown(() => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      });
      return (server.address() as AddressInfo).port;
    }),
  );
  for (const port of impostors) a.services.directory.addCandidate({ host: '127.0.0.1', port, source: 'dns-sd' });
  await Promise.all(answered);
  await a.services.directory.refresh();
  t.deepEqual(a.services.directory.peers().map((peer) => [peer.unitId, peer.address]), [[b.services.unitId, `127.0.0.1:${b.port}`]]);
  t.false(a.services.directory.entries().some((entry) => entry.name === 'Evil'));
});

test('an unsigned request is refused with 401 before its body or parameters are validated', async (t) => {
  const unit = await securedUnit(t, 'Hall', SITE_SECRET);
  const badBody = await unit.app.inject({ method: 'POST', url: '/api/unit/calls', payload: '{"no":"offer"}', headers: { 'content-type': 'application/json' } });
  t.is(badBody.statusCode, 401);
  const badParams = await unit.app.inject({ method: 'GET', url: '/api/unit/calls/not!an!id' });
  t.is(badParams.statusCode, 401);
  t.like(await peerRequests(unit), { rejected: 2, rejectedByReason: { 'missing-headers': 2 } });
  // A signed request with a bad body still gets the route's own 400.
  const signedBad = await unit.app.inject({ method: 'POST', url: '/api/unit/calls', payload: '{"no":"offer"}', headers: signedHeaders(unit, 'POST', '/api/unit/calls', '{"no":"offer"}') });
  t.is(signedBad.statusCode, 400);
});
