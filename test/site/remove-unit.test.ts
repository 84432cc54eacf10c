import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchSite, launchUnit, TEST_SITE_SECRET, type UnitProcess } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';
import { signPeerRequest } from '../../src/security/peer-auth.js';
import { readReplacedConfigSecret, siteSecretProblem } from '../../src/security/site-secret.js';

// Four real unit processes of one site (site.secret from their config, as provisioned cards have):
// Attic is switched off, Garage is removed from Hall's API. Hall and Kitchen get a new secret and
// keep calling; Garage's signed requests are refused by both; Attic, back with the old secret, is
// listed as needing to re-join, is refused, is told why on its own API, and re-joins with a code.

const peersOf = async (unit: UnitProcess) => (await unit.api('GET', '/api/peers')).body.peers as Array<{ unitId: string; name: string; online: boolean }>;

/** Rings `to` from `from`'s unit `unit` until it rings at `callee` (the units switch to the new secret a poll apart), then hangs up. */
async function ringsThrough(unit: UnitProcess, from: string, callee: UnitProcess, to: string): Promise<void> {
  await eventually(`${from} rings ${to}`, async () => {
    const initiated = await unit.api('POST', '/api/signal/initiate', { from, to });
    if (initiated.status !== 200 || initiated.body.call?.phase !== 'ringing') return false;
    const callId: string = initiated.body.call.id;
    const ringing = await eventually(`${to} rings`, async () => {
      const incoming = await callee.api('GET', `/api/signal/incoming?user=${encodeURIComponent(to)}`);
      return incoming.body.calls.some((call: { id: string }) => call.id === callId) || undefined;
    }, 5000).catch(() => false);
    await unit.api('POST', '/api/signal/end', { callId });
    await eventually('both idle again', async () => (await unit.api('GET', '/api/calls')).body.current === null && (await callee.api('GET', '/api/calls')).body.current === null);
    return ringing;
  });
}

/** A unit-to-unit request signed with `secret` as unit `sender` would send it to `receiver`. */
async function signedRequest(sender: string, secret: string, receiver: UnitProcess, receiverId: string, method: 'GET' | 'POST', urlPath: string, payload?: unknown): Promise<number> {
  const body = payload === undefined ? '' : JSON.stringify(payload);
  const headers = signPeerRequest({ method, authority: receiver.address, path: urlPath, body, receiver: receiverId }, { secret, unitId: sender });
  const response = await fetch(`${receiver.baseUrl}${urlPath}`, { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body || undefined });
  return response.status;
}

test('removing a unit rotates the secret: the others keep calling, the removed one is refused, an offline one re-joins with a code', async (t) => {
  const atticDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-rotate-attic-'));
  t.teardown(() => rm(atticDir, { recursive: true, force: true }));
  const [hall, garage, kitchen, attic] = await launchSite(t, [{ name: 'Hall' }, { name: 'Garage' }, { name: 'Kitchen' }, { name: 'Attic', dataDir: atticDir }]);
  for (const unit of [hall, garage, kitchen, attic]) t.is((await unit.api('POST', '/api/users/register', { name: unit.name })).status, 201);
  const ids = await eventually('Hall sees the three others online', async () => {
    const peers = await peersOf(hall);
    return peers.length === 3 && peers.every((peer) => peer.online) && Object.fromEntries(peers.map((peer) => [peer.name, peer.unitId]));
  });
  const hallId = (await hall.api('GET', '/api/status')).body.unit.id as string;
  const kitchenId = ids.Kitchen!;
  const garageId = ids.Garage!;
  await eventually('Kitchen sees everyone', async () => (await peersOf(kitchen)).length === 3);

  // Attic is switched off; Garage is removed from Hall.
  await attic.stop();
  const removal = await hall.api('POST', '/api/site/remove', { unitId: garageId });
  t.is(removal.status, 200, JSON.stringify(removal.body));
  t.deepEqual(removal.body.removed, { unitId: garageId, name: 'Garage' });
  t.deepEqual(removal.body.rotated, [{ unitId: kitchenId, name: 'Kitchen' }]);
  t.deepEqual(removal.body.needsRejoining.map((entry: { name: string }) => entry.name), ['Attic']);

  // Hall and Kitchen store the same new secret; the configured one is replaced, not edited.
  const onHall = await readReplacedConfigSecret(hall.dataDir, TEST_SITE_SECRET);
  const onKitchen = await readReplacedConfigSecret(kitchen.dataDir, TEST_SITE_SECRET);
  t.truthy(onHall);
  t.is(siteSecretProblem(onHall!), null);
  t.is(onHall, onKitchen);
  t.not(onHall, TEST_SITE_SECRET);
  t.is((await hall.api('GET', '/api/status')).body.security.peerRequests.secretSource, 'config-replaced');

  // Both list Attic as needing to re-join; neither has Garage (nor its user) any more.
  for (const unit of [hall, kitchen]) {
    t.deepEqual(((await unit.api('GET', '/api/site')).body.needsRejoining as Array<{ name: string }>).map((entry) => entry.name), ['Attic'], unit.name);
    await eventually(`${unit.name} no longer lists Garage`, async () => {
      const users = (await unit.api('GET', '/api/users')).body.users as Array<{ name: string }>;
      return !(await peersOf(unit)).some((peer) => peer.name === 'Garage') && !users.some((user) => user.name === 'Garage');
    });
  }

  // Hall and Kitchen keep calling each other, both ways.
  await ringsThrough(hall, 'Hall', kitchen, 'Kitchen');
  await ringsThrough(kitchen, 'Kitchen', hall, 'Hall');

  // Garage, with the old secret, is refused by both: its directory poll and its call offers.
  for (const [unit, unitId] of [[hall, hallId], [kitchen, kitchenId]] as const) {
    t.is(await signedRequest(garageId, TEST_SITE_SECRET, unit, unitId, 'GET', '/api/unit/info'), 401, `${unit.name} refuses Garage's info request`);
    const offer = {
      callId: `garage-call-${unit.name.toLowerCase()}-1`,
      caller: { user: 'Garage', unitId: garageId, unitName: 'Garage', httpPort: garage.httpPort },
      callee: { user: unit.name },
    };
    t.is(await signedRequest(garageId, TEST_SITE_SECRET, unit, unitId, 'POST', '/api/unit/calls', offer), 401, `${unit.name} refuses Garage's call`);
    t.is((await unit.api('GET', '/api/calls')).body.current, null, `${unit.name} does not ring`);
  }
  // Its own API tells Garage's people why, and it can no longer ring Hall.
  const onGarage = await eventually('Garage lists Hall and Kitchen as refusing it', async () => {
    const untrusted = (await garage.api('GET', '/api/site')).body.untrusted as Array<{ address: string; reason: string }>;
    return untrusted.filter((entry) => entry.reason === 'former-peer').length === 2 && untrusted;
  });
  t.true(onGarage.some((entry) => entry.address === hall.address));
  t.not((await garage.api('POST', '/api/signal/initiate', { from: 'Garage', to: 'Hall' })).status, 200);

  // Attic comes back with the old secret: refused, and told so.
  const atticBack = await launchUnit(t, { name: 'Attic', dataDir: atticDir, httpPort: attic.httpPort, peers: [hall.address, garage.address, kitchen.address] });
  const atticSite = await eventually('Attic sees that Hall and Kitchen refuse it', async () => {
    const site = (await atticBack.api('GET', '/api/site')).body;
    const former = (site.untrusted as Array<{ address: string; reason: string; message: string }>).filter((entry) => entry.reason === 'former-peer');
    return former.length >= 2 && site;
  });
  t.is(atticSite.joinRefusal, null, 'a unit left behind by a rotation may join again without leaving first (Garage still trusts it)');
  t.regex(atticSite.untrusted.find((entry: { address: string }) => entry.address === hall.address).message, /join the site again with a code/);
  t.deepEqual(((await hall.api('GET', '/api/site')).body.needsRejoining as Array<{ name: string }>).map((entry) => entry.name), ['Attic']);

  // It re-joins with a code from Kitchen, and calls again.
  const invitation = await kitchen.api('POST', '/api/site/invitation');
  t.is(invitation.status, 201);
  const joined = await atticBack.api('POST', '/api/site/join', { code: invitation.body.code, host: kitchen.address });
  t.is(joined.status, 200, JSON.stringify(joined.body));
  for (const unit of [hall, kitchen]) {
    await eventually(`${unit.name} no longer lists Attic as needing to re-join`, async () => (await unit.api('GET', '/api/site')).body.needsRejoining.length === 0);
  }
  await ringsThrough(atticBack, 'Attic', hall, 'Hall');
  await ringsThrough(hall, 'Hall', atticBack, 'Attic');
  // Garage refuses Attic now as well: the old site is gone for everyone but Garage.
  t.is(await readReplacedConfigSecret(atticBack.dataDir, TEST_SITE_SECRET), onHall);
  t.is((await readFile(path.join(hall.dataDir, 'site-needs-rejoining.json'), 'utf8')).trim(), '[]');
});
