import test from 'ava';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PeerClient } from '../../src/peers/peer-client.js';
import { PeerRequestAuthenticator, createPeerClientAuth } from '../../src/security/peer-auth.js';
import { PeerClockOffsets } from '../../src/security/peer-clock-sync.js';
import { launchSite, type UnitProcess } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';

// A Raspberry Pi has no real-time clock: on a LAN without internet its clock runs from the time
// saved at the last shutdown, so two units of one site can be hours apart. Signed unit-to-unit
// requests carry a timestamp checked against a freshness window; the asking unit learns the other's
// clock from the signed time in its answers and stamps its requests on that clock.

const SECRET = 'the-site-secret-of-the-test-site';
const THREE_HOURS_MS = 3 * 3600_000;
const PEER_ID = 'peer-unit-id';

/** A unit's unit-to-unit endpoint over real HTTP, whose wall clock is `skewMs` off ours. */
async function skewedPeer(t: { teardown(fn: () => unknown): void }, skewMs: number, secret = SECRET) {
  const wallClock = () => Date.now() + skewMs;
  const auth = new PeerRequestAuthenticator({ secret: SECRET, unitId: PEER_ID, maxClockSkewMs: 30_000, wallClock });
  // What this peer signs its answers with: the site's secret, or (a stranger) another one.
  const signer = new PeerRequestAuthenticator({ secret, unitId: PEER_ID, maxClockSkewMs: 30_000, wallClock });
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const incoming = { method: request.method!, url: request.url!, headers: request.headers, rawBody: Buffer.concat(chunks).toString('utf8') };
      const verdict = auth.verify(incoming);
      const status = verdict.ok ? 200 : 401;
      const body = verdict.ok
        ? JSON.stringify({ unitId: PEER_ID, name: 'Peer', version: '0.0.0', httpPort: 1, users: ['Garage'], inCall: false })
        : JSON.stringify({ error: 'unauthorized', message: 'unit-to-unit request refused' });
      // A stranger signs whatever it is asked (with its own secret); a unit of the site only what `auth` let through.
      const signingVerdict = secret === SECRET ? verdict : ({ ok: true, unitId: String(request.headers['x-intercom-unit-id']) } as const);
      response.writeHead(status, { 'content-type': 'application/json', ...signer.signAnswer(signingVerdict, { request: incoming, status, body }) });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, auth };
}

function client(clockSync?: PeerClockOffsets) {
  return new PeerClient({
    unitId: 'asking-unit-id',
    timeoutMs: 5_000,
    auth: createPeerClientAuth({ secret: SECRET, unitId: 'asking-unit-id' }),
    clockSync,
  });
}

for (const skewMs of [-THREE_HOURS_MS, THREE_HOURS_MS, -400 * 24 * 3600_000]) {
  test(`a peer whose clock is ${skewMs / 3600_000} h off ours is reached after one refusal, and from then on at once`, async (t) => {
    const peer = await skewedPeer(t, skewMs);
    const offsets = new PeerClockOffsets();
    const first = await client(offsets).info(peer.baseUrl);
    t.is(first.kind, 'ok', JSON.stringify(first));
    t.true(Math.abs(offsets.offsetMs(PEER_ID) - skewMs) < 1_000, `learnt ${offsets.offsetMs(PEER_ID)} ms`);
    t.like(peer.auth.counters(), { accepted: 1, rejected: 1, rejectedByReason: { 'clock-skew': 1 } });
    // Later polls are addressed to the unit that answered (as the directory does), so they go out on its clock.
    for (let i = 0; i < 3; i++) t.is((await client(offsets).info(peer.baseUrl, PEER_ID)).kind, 'ok');
    t.like(peer.auth.counters(), { accepted: 4, rejected: 1 }, 'no further refusals once the clock is known');
  });
}

test('without learning the clock, such a peer refuses every request (what the learning fixes)', async (t) => {
  const peer = await skewedPeer(t, THREE_HOURS_MS);
  const answer = await client().info(peer.baseUrl);
  t.like(answer, { kind: 'refused', status: 401 });
});

test('an answer signed with another secret cannot move our idea of the clock', async (t) => {
  const stranger = await skewedPeer(t, THREE_HOURS_MS, 'secret-of-a-stranger-on-the-lan');
  const offsets = new PeerClockOffsets();
  const answer = await client(offsets).info(stranger.baseUrl);
  t.is(answer.kind, 'unreachable');
  t.is(offsets.known(PEER_ID), null);
});

const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'].find((file) => existsSync(file));

const phase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';

(LIBFAKETIME ? test.serial : test.serial.skip)('two unit processes whose clocks are 3 hours apart (libfaketime) find each other and call both ways', async (t) => {
  const fast = { discovery: { pollIntervalMs: 250, offlineAfterMs: 3000, requestTimeoutMs: 5000 } };
  const [a, b] = await launchSite(t, [
    { name: 'A', config: fast },
    // The whole process sees a wall clock 3 hours behind; its monotonic clock is left alone.
    { name: 'B', config: fast, env: { LD_PRELOAD: LIBFAKETIME, FAKETIME: '-3h', FAKETIME_DONT_FAKE_MONOTONIC: '1' } },
  ]);
  const timeOf = async (unit: UnitProcess) => Date.parse((await fetch(`${unit.baseUrl}/api/health`)).headers.get('date') ?? '');
  t.true(Math.abs((await timeOf(a)) - (await timeOf(b)) - THREE_HOURS_MS) < 60_000, 'B really runs 3 hours behind');

  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  const online = async (unit: UnitProcess, name: string) =>
    ((await unit.api('GET', '/api/users')).body.users as { name: string; online: boolean }[]).some((user) => user.name === name && user.online);
  await eventually('A and B to see each other', async () => (await online(a, 'Front door')) && (await online(b, 'Kitchen')));

  for (const [caller, callee, from, to] of [[a, b, 'Kitchen', 'Front door'], [b, a, 'Front door', 'Kitchen']] as const) {
    const initiated = await caller.api('POST', '/api/signal/initiate', { from, to });
    t.is(initiated.status, 200, JSON.stringify(initiated.body));
    const callId: string = initiated.body.call.id;
    await eventually(`${callee.name} to ring`, async () => (await callee.api('GET', `/api/signal/incoming?user=${encodeURIComponent(to)}`)).body.calls.length > 0);
    t.is((await callee.api('POST', '/api/signal/accept', { callId })).status, 200);
    await eventually('both active', async () => (await phase(a)) === 'active' && (await phase(b)) === 'active');
    t.is((await callee.api('POST', '/api/signal/end', { callId })).status, 200);
    await eventually('both idle', async () => (await phase(a)) === 'idle' && (await phase(b)) === 'idle');
    t.like((await caller.api('GET', `/api/calls/${callId}`)).body.call, { phase: 'ended', endReason: 'hung-up' });
  }
  // Each refused the other's first request for its timestamp, and nothing after that.
  for (const unit of [a, b]) {
    const counts = (await unit.api('GET', '/api/status')).body.security.peerRequests;
    t.true(counts.rejectedByReason['clock-skew'] >= 1 && counts.rejectedByReason['clock-skew'] <= 3, `${unit.name}: ${JSON.stringify(counts)}`);
    t.true(counts.accepted >= 5, `${unit.name}: ${JSON.stringify(counts)}`);
  }
});
