import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchSite, launchUnit, type UnitProcess } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';

// Real unit processes (no sound devices: they run without audio). Units of one site, sharing the
// test site secret, find each other and call; a unit with another secret is refused by them and
// never becomes a peer; a unit whose secret changes drops out, and calls to it fail as unreachable.

const STRANGER_SECRET = 'secret-of-a-stranger-on-the-lan';
const CHANGED_SECRET = 'secret-b-was-given-by-another-site';
/** Fast polling, generous timeouts (loaded CI machines); A keeps a silent peer "online" for long, so that A really sends its offer to B. */
const FAST_DISCOVERY = { discovery: { pollIntervalMs: 250, offlineAfterMs: 1500, requestTimeoutMs: 5000 } };


const usersSeenBy = async (unit: UnitProcess) =>
  (await unit.api('GET', '/api/users')).body.users as { name: string; online: boolean; local: boolean }[];
const peerRequests = async (unit: UnitProcess) => (await unit.api('GET', '/api/status')).body.security.peerRequests;
const phase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';

test.serial('a closed site: same-secret units call each other; a stranger is refused; a unit whose secret changed is unreachable', async (t) => {
  const dataDirB = await mkdtemp(path.join(os.tmpdir(), 'intercom-B-kept-'));
  t.teardown(() => rm(dataDirB, { recursive: true, force: true }));
  const [a, b, stranger] = await launchSite(t, [
    { name: 'A', config: { discovery: { pollIntervalMs: 250, offlineAfterMs: 60_000, requestTimeoutMs: 5000 } } },
    { name: 'B', config: FAST_DISCOVERY, dataDir: dataDirB },
    { name: 'Stranger', config: FAST_DISCOVERY, siteSecret: STRANGER_SECRET },
  ]);
  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  t.is((await stranger.api('POST', '/api/users/register', { name: 'Garage' })).status, 201);

  // Same secret: A and B find each other and call.
  await eventually('A and B to see each other\'s users', async () => {
    const [onA, onB] = await Promise.all([usersSeenBy(a), usersSeenBy(b)]);
    return onA.some((user) => user.name === 'Front door' && user.online) && onB.some((user) => user.name === 'Kitchen' && user.online);
  });
  const initiated = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  t.is(initiated.status, 200);
  const callId: string = initiated.body.call.id;
  await eventually('B to ring', async () => (await b.api('GET', `/api/signal/incoming?user=${encodeURIComponent('Front door')}`)).body.calls.length > 0);
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('both active', async () => (await phase(a)) === 'active' && (await phase(b)) === 'active');
  t.is((await a.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both idle', async () => (await phase(a)) === 'idle' && (await phase(b)) === 'idle');
  t.like((await b.api('GET', `/api/calls/${callId}`)).body.call, { phase: 'ended', endReason: 'hung-up' });

  // The stranger: its polls get 401 on A and B (counted), theirs get 401 on it; nobody lists anybody.
  await eventually('A, B and the stranger to have refused each other', async () => {
    const counts = await Promise.all([a, b, stranger].map(peerRequests));
    return counts.every((count) => count.rejectedByReason['bad-signature'] > 0);
  });
  const strangerProbe = await fetch(`${a.baseUrl}/api/unit/info`);
  t.is(strangerProbe.status, 401, 'an unsigned request from anyone on the LAN is refused');
  for (const unit of [a, b]) {
    const peers = (await unit.api('GET', '/api/peers')).body.peers as { name: string }[];
    t.false(peers.some((peer) => peer.name === 'Stranger'), `${unit.name} never lists the stranger`);
    t.false((await usersSeenBy(unit)).some((user) => user.name === 'Garage'));
    const counts = await peerRequests(unit);
    t.true(counts.accepted > 0);
    t.is(counts.rejected, counts.rejectedByReason['bad-signature'] + counts.rejectedByReason['missing-headers']);
  }
  t.deepEqual((await stranger.api('GET', '/api/peers')).body.peers, []);
  t.deepEqual((await usersSeenBy(stranger)).map((user) => user.name), ['Garage']);
  const strangerCall = await stranger.api('POST', '/api/signal/initiate', { from: 'Garage', to: 'Kitchen' });
  t.is(strangerCall.status, 404, 'the stranger does not even learn the site\'s users');

  // B is restarted with another site's secret (same data dir: same unit id, same user). A still
  // believes B online and sends its offer: B refuses it, nothing rings, and A's call is unreachable.
  const port = b.httpPort;
  await b.stop();
  const movedB = await launchUnit(t, { name: 'B', httpPort: port, dataDir: dataDirB, peers: [a.address], config: FAST_DISCOVERY, siteSecret: CHANGED_SECRET });
  t.true((await usersSeenBy(movedB)).some((user) => user.name === 'Front door' && user.local));
  const refusedBefore = (await peerRequests(movedB)).rejected;
  const toMovedB = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  t.is(toMovedB.status, 200);
  t.like(toMovedB.body.call, { phase: 'ended', endReason: 'unreachable' });
  t.is(await phase(movedB), 'idle', 'nothing rang on B');
  // Counted when B has handled A's request, which on a busy machine can be after A gave up on it.
  await eventually('B to have refused A\'s offer', async () => (await peerRequests(movedB)).rejected > refusedBefore);
  await eventually('the moved B to have refused A\'s polls too', async () => (await peerRequests(movedB)).rejectedByReason['bad-signature'] > 0);
  t.deepEqual((await movedB.api('GET', '/api/peers')).body.peers, [], 'and B no longer sees A');
});
