import test from 'ava';
import { PeerDirectory, type PeerView } from '../../src/peers/peer-directory.js';
import type { PeerResult } from '../../src/peers/peer-client.js';
import type { UnitInfo } from '../../src/peers/peer-protocol.js';
import { FakeClock } from '../support/fake-clock.js';
import { parseStaticPeer } from '../../src/discovery/dns-sd.js';

/**
 * Peers as a table of base URL -> info (or null when that unit does not answer). As a signing unit
 * does, a unit answers only polls addressed to it or to anyone, and its answer names it.
 */
function fakeNetwork() {
  const answers = new Map<string, UnitInfo | null>();
  const asked: string[] = [];
  const addressedTo: (string | null)[] = [];
  return {
    answers,
    asked,
    addressedTo,
    client: {
      async info(baseUrl: string, unitId: string | null): Promise<PeerResult<UnitInfo>> {
        asked.push(baseUrl);
        addressedTo.push(unitId);
        const info = answers.get(baseUrl);
        if (info && unitId !== null && unitId !== info.unitId) return { kind: 'unreachable', message: 'answered by another unit' };
        return info ? { kind: 'ok', value: structuredClone(info), from: info.unitId } : { kind: 'unreachable', message: 'timeout' };
      },
    },
  };
}

const info = (unitId: string, name: string, users: string[]): UnitInfo => ({ unitId, name, version: '1', httpPort: 5000, users, inCall: false });

function directory(network: ReturnType<typeof fakeNetwork>, clock: FakeClock, localUsers: string[] = []) {
  return new PeerDirectory({
    selfUnitId: 'self-unit-0000',
    selfName: 'Self',
    client: network.client,
    localUsers: () => localUsers,
    clock,
    pollIntervalMs: 1000,
    offlineAfterMs: 3000,
  });
}

test('a polled peer appears with its users; one that stops answering is offline within offlineAfterMs', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', 'Garage', ['Workshop']));
  const peers = directory(network, clock, ['Kitchen']);
  const changes: PeerView[][] = [];
  peers.on('changed', (list) => changes.push(list));
  peers.addCandidate(parseStaticPeer('10.0.0.5:5000'));
  peers.start();
  await clock.advance(0);
  t.like(peers.peers()[0], { unitId: 'peer-unit-0001', name: 'Garage', online: true, address: '10.0.0.5:5000', source: 'static', users: ['Workshop'] });
  t.deepEqual(
    peers.entries().map((entry) => [entry.name, entry.unitName, entry.local, entry.online]),
    [
      ['Kitchen', 'Self', true, true],
      ['Workshop', 'Garage', false, true],
    ],
  );
  t.is(changes.length, 1);

  network.answers.set('http://10.0.0.5:5000', null);
  await clock.advance(2000);
  t.true(peers.peers()[0].online, 'still online inside the grace period');
  await clock.advance(1000);
  t.false(peers.peers()[0].online);
  t.false(peers.findUser('workshop')!.online);
  t.is(changes.length, 2);
  t.false(changes[1][0].online);

  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', 'Garage', ['Workshop', 'Yard']));
  await clock.advance(1000);
  t.true(peers.peers()[0].online);
  t.deepEqual(peers.peers()[0].users, ['Workshop', 'Yard'], 'users kept current');
  t.is(changes.length, 3);
  peers.stop();
  t.is(clock.pendingTimers, 0);
});

test('this unit seen through its own record is ignored and no longer polled', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.9:5000', info('self-unit-0000', 'Self', ['Kitchen']));
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.9', port: 5000, source: 'dns-sd' });
  peers.start();
  await clock.advance(5000);
  t.deepEqual(peers.peers(), []);
  t.is(network.asked.length, 1);
  peers.stop();
});

test('one unit reached at two addresses is one peer; a name on two units resolves the same way everywhere', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0002', 'Garage', ['Hall']));
  network.answers.set('http://garage.local:5000', info('peer-unit-0002', 'Garage', ['Hall']));
  network.answers.set('http://10.0.0.6:5000', info('peer-unit-0001', 'Attic', ['hall']));
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  peers.addCandidate({ host: 'garage.local', port: 5000, source: 'static' });
  peers.addCandidate({ host: '10.0.0.6', port: 5000, source: 'static' });
  await peers.refresh();
  t.is(peers.peers().length, 2);
  t.is(peers.findUser('HALL')!.unitId, 'peer-unit-0001', 'lowest unit id wins among equals');
  network.answers.set('http://10.0.0.6:5000', null);
  await clock.advance(3000);
  await peers.refresh();
  t.is(peers.findUser('hall')!.unitId, 'peer-unit-0002', 'an online holder beats an offline one');
});

test('hearing from a peer (a call request) marks it online at once', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', 'Garage', []));
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'static' });
  await peers.refresh();
  network.answers.set('http://10.0.0.5:5000', null);
  peers.start();
  await clock.advance(3000);
  t.false(peers.peer('peer-unit-0001')!.online);
  peers.noteHeardFrom('peer-unit-0001');
  t.true(peers.peer('peer-unit-0001')!.online);
  t.is(peers.peer('peer-unit-0001')!.msSinceSeen, 0);
  peers.stop();
});

test("a unit's address moves only when its current address has gone quiet, and only to where it answered itself", async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  const garage = info('peer-unit-0001', 'Garage', ['Workshop']);
  network.answers.set('http://10.0.0.5:5000', garage);
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'static' });
  peers.start();
  await clock.advance(0);
  t.is(peers.peer('peer-unit-0001')!.address, '10.0.0.5:5000');
  t.deepEqual(network.addressedTo, [null], 'the first poll asks whoever is there');
  await clock.advance(1000);
  t.deepEqual(network.addressedTo, [null, 'peer-unit-0001'], 'later polls are addressed to the unit that answered');

  // The same unit also answers at a second address: while the first one answers, it stays.
  network.answers.set('http://10.0.0.7:5000', garage);
  peers.addCandidate({ host: '10.0.0.7', port: 5000, source: 'dns-sd' });
  await clock.advance(5000);
  t.is(peers.peer('peer-unit-0001')!.address, '10.0.0.5:5000', 'answering last does not make an address the unit\'s');

  // The first address goes quiet (a new DHCP lease): after offlineAfterMs the unit is where it answers now.
  network.answers.set('http://10.0.0.5:5000', null);
  await clock.advance(2000);
  t.is(peers.peer('peer-unit-0001')!.address, '10.0.0.5:5000');
  await clock.advance(2000);
  t.is(peers.peer('peer-unit-0001')!.address, '10.0.0.7:5000');
  t.true(peers.peer('peer-unit-0001')!.online);
  peers.stop();
});

test('a calling unit not known yet is confirmed where it called from, by its own answer there', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5001', info('peer-unit-0001', 'Garage', ['Workshop']));
  network.answers.set('http://10.0.0.9:5001', info('peer-unit-0003', 'Relay', []));
  const peers = directory(network, clock);
  t.is(await peers.confirm('peer-unit-0001', '10.0.0.9', 5001), null, 'another unit there does not confirm it');
  t.is(await peers.confirm('peer-unit-0001', '10.0.0.6', 5001), null, 'nobody there does not either');
  t.deepEqual(peers.peers(), []);
  t.is(await peers.confirm('peer-unit-0001', '::ffff:10.0.0.5', 5001), 'http://10.0.0.5:5001');
  t.like(peers.peer('peer-unit-0001'), { address: '10.0.0.5:5001', source: 'inbound', online: true });
  t.is(network.addressedTo.at(-1), 'peer-unit-0001');
});

test('static peer entries: host:port, bracketed IPv6, names; anything else is refused', (t) => {
  t.deepEqual(parseStaticPeer('10.0.0.5:5000'), { host: '10.0.0.5', port: 5000, source: 'static' });
  t.deepEqual(parseStaticPeer('[fd00::5]:5001'), { host: 'fd00::5', port: 5001, source: 'static' });
  t.deepEqual(parseStaticPeer('garage.local:80'), { host: 'garage.local', port: 80, source: 'static' });
  for (const bad of ['10.0.0.5', '10.0.0.5:0', '10.0.0.5:70000', 'fd00::5:5000', '']) {
    t.throws(() => parseStaticPeer(bad), { instanceOf: RangeError }, bad);
  }
});

test('a unit of the site that starts refusing our signature leaves the directory and is listed as a former peer; forgetPeer drops a unit at once', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  const refusing = new Set<string>();
  const hellos: string[] = [];
  const client = {
    async info(baseUrl: string, unitId: string | null): Promise<PeerResult<UnitInfo>> {
      if (refusing.has(baseUrl)) return { kind: 'unreachable', message: 'not signed with this site\'s secret', unverified: { status: 401, error: 'unauthorized' } };
      return network.client.info(baseUrl, unitId);
    },
    async hello(baseUrl: string) {
      hellos.push(baseUrl);
      return { unitId: 'x', name: 'x', inSite: true, leftBehind: false };
    },
  };
  const peers = new PeerDirectory({ selfUnitId: 'self-unit-0000', selfName: 'Self', client, localUsers: () => [], clock, pollIntervalMs: 1000, offlineAfterMs: 3000 });
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', 'Garage', ['Workshop']));
  network.answers.set('http://10.0.0.6:5000', info('peer-unit-0002', 'Hall', ['Hall']));
  peers.addCandidate(parseStaticPeer('10.0.0.5:5000'));
  peers.addCandidate(parseStaticPeer('10.0.0.6:5000'));
  peers.start();
  await clock.advance(0);
  t.is(peers.peers().length, 2);

  // Garage's site rotated its secret without us: it refuses our signature.
  refusing.add('http://10.0.0.5:5000');
  await clock.advance(1000);
  t.deepEqual(peers.peers().map((peer) => peer.name), ['Hall']);
  t.false(peers.entries().some((entry) => entry.name === 'Workshop'), 'its users leave the directory');
  t.deepEqual(peers.formerPeers(), [{ unitId: 'peer-unit-0001', name: 'Garage', address: '10.0.0.5:5000' }]);
  const listed = peers.untrusted().find((entry) => entry.address === '10.0.0.5:5000');
  t.like(listed, { reason: 'former-peer' });
  t.regex(listed!.message, /Garage was a unit of this site and no longer accepts this unit/);
  await clock.advance(1000);
  t.like(peers.untrusted()[0], { reason: 'former-peer' }, 'it stays a former peer on later polls');

  // It answers with our secret again (we re-joined): a peer again, no longer former.
  refusing.delete('http://10.0.0.5:5000');
  await clock.advance(1000);
  t.is(peers.peers().length, 2);
  t.deepEqual(peers.formerPeers(), []);

  // Removed here: gone at once.
  t.true(peers.forgetPeer('peer-unit-0002'));
  t.deepEqual(peers.peers().map((peer) => peer.name), ['Garage']);
  t.false(peers.forgetPeer('peer-unit-0002'));
  peers.stop();
});

test('a unit that refuses us and says we were left behind by its rotation is a former peer, even unknown before', async (t) => {
  const clock = new FakeClock();
  const client = {
    async info(): Promise<PeerResult<UnitInfo>> {
      return { kind: 'unreachable', message: 'refused', unverified: { status: 401, error: 'unauthorized' } };
    },
    async hello() {
      return { unitId: 'peer-unit-0003', name: 'Kitchen', inSite: true, leftBehind: true };
    },
  };
  const peers = new PeerDirectory({ selfUnitId: 'self-unit-0000', selfName: 'Self', client, localUsers: () => [], clock, pollIntervalMs: 1000, offlineAfterMs: 3000 });
  peers.addCandidate(parseStaticPeer('10.0.0.7:5000'));
  peers.start();
  await clock.advance(0);
  t.deepEqual(peers.formerPeers(), [{ unitId: 'peer-unit-0003', name: 'Kitchen', address: '10.0.0.7:5000' }]);
  t.like(peers.untrusted()[0], { reason: 'former-peer' });
  peers.stop();
});
