import test from 'ava';
import { PeerDirectory, supersedes, type PeerView } from '../../src/peers/peer-directory.js';
import type { PeerResult } from '../../src/peers/peer-client.js';
import type { UnitInfo } from '../../src/peers/peer-protocol.js';
import { FakeClock } from '../support/fake-clock.js';

/**
 * The directory with a prober (discovery by announcement and push, liveness by probing): a unit's
 * info is asked once, then only when it pushes or its version moves; nothing is polled while the
 * site is idle; the address rules stay.
 */

function fakeNetwork() {
  const answers = new Map<string, UnitInfo | null>();
  const asked: string[] = [];
  return {
    answers,
    asked,
    client: {
      async info(baseUrl: string, unitId: string | null): Promise<PeerResult<UnitInfo>> {
        asked.push(baseUrl);
        const info = answers.get(baseUrl);
        if (info && unitId !== null && unitId !== info.unitId) return { kind: 'unreachable', message: 'answered by another unit' };
        return info ? { kind: 'ok', value: structuredClone(info), from: info.unitId } : { kind: 'unreachable', message: 'timeout' };
      },
    },
  };
}

const info = (unitId: string, users: string[], stateVersion: string, inCall = false): UnitInfo => ({
  unitId,
  name: 'Garage',
  version: '1',
  httpPort: 5000,
  users,
  inCall,
  probePort: 5000,
  stateVersion,
});

function directory(network: ReturnType<typeof fakeNetwork>, clock: FakeClock) {
  return new PeerDirectory({
    selfUnitId: 'self-unit-0000',
    selfName: 'Self',
    client: network.client,
    localUsers: () => [],
    clock,
    pollIntervalMs: 1000,
    offlineAfterMs: 3000,
    probed: () => true,
  });
}

test('a probed unit is asked once; silence does not take it offline, the prober does; it is not polled even then', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', ['Workshop'], '100.0'));
  const peers = directory(network, clock);
  const changes: PeerView[][] = [];
  peers.on('changed', (list) => changes.push(list));
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  peers.start();
  await clock.advance(60_000);
  t.is(network.asked.length, 1, 'one info request in a minute');
  t.true(peers.peer('peer-unit-0001')!.online);
  t.deepEqual(peers.probeMembers(), [{ unitId: 'peer-unit-0001', host: '10.0.0.5', port: 5000, online: true }]);

  peers.markOffline('peer-unit-0001', 'test');
  t.false(peers.peer('peer-unit-0001')!.online);
  t.is(changes.length, 2);
  await clock.advance(10_000);
  t.is(network.asked.length, 1, 'an offline probed unit is left to the prober');
  // Announced again (it restarted): asked at once.
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  await clock.advance(0);
  t.is(network.asked.length, 2);
  t.true(peers.peer('peer-unit-0001')!.online);
  peers.stop();
});

test("a probe showing another version fetches the info again; the same version does not", async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', ['Workshop'], '100.0'));
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  peers.start();
  await clock.advance(0);
  peers.noteAlive('peer-unit-0001', '100.0');
  await clock.advance(0);
  t.is(network.asked.length, 1);
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', ['Workshop', 'Yard'], '100.1'));
  peers.noteAlive('peer-unit-0001', '100.1');
  await clock.advance(0);
  t.is(network.asked.length, 2);
  t.deepEqual(peers.peer('peer-unit-0001')!.users, ['Workshop', 'Yard']);
  // A probe of a unit marked offline brings it back.
  peers.markOffline('peer-unit-0001', 'test');
  peers.noteAlive('peer-unit-0001', '100.1');
  t.true(peers.peer('peer-unit-0001')!.online);
  peers.stop();
});

test('a pushed change is taken when newer (or after a restart), never older; its address and ports never come from a push', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', ['Workshop'], '100.3'));
  const peers = directory(network, clock);
  await peers.confirm('peer-unit-0001', '10.0.0.5', 5000);
  await peers.receivePush('peer-unit-0001', { ...info('peer-unit-0001', ['Old'], '100.2'), httpPort: 6000, probePort: 6001 }, '10.0.0.66');
  t.deepEqual(peers.peer('peer-unit-0001')!.users, ['Workshop'], 'an older push is ignored');
  await peers.receivePush('peer-unit-0001', { ...info('peer-unit-0001', ['New'], '100.4', true), httpPort: 6000, probePort: 6001 }, '10.0.0.66');
  t.like(peers.peer('peer-unit-0001'), { users: ['New'], inCall: true, address: '10.0.0.5:5000' });
  t.deepEqual(peers.probeMembers()[0], { unitId: 'peer-unit-0001', host: '10.0.0.5', port: 5000, online: true });
  await peers.receivePush('peer-unit-0001', info('peer-unit-0001', ['Restarted'], '90.0'), '10.0.0.5');
  t.deepEqual(peers.peer('peer-unit-0001')!.users, ['Restarted'], 'another epoch is a restart, whatever its clock says');
  // A push naming another unit than its signed sender is ignored.
  await peers.receivePush('peer-unit-0002', info('peer-unit-0001', ['Forged'], '100.9'), '10.0.0.66');
  t.deepEqual(peers.peer('peer-unit-0001')!.users, ['Restarted']);
});

test('a push from a unit not known yet is confirmed where it came from, by its own signed answer there', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.7:5000', info('peer-unit-0007', ['Attic'], '5.0'));
  const peers = directory(network, clock);
  await peers.receivePush('peer-unit-0007', info('peer-unit-0007', ['Attic'], '5.0'), '10.0.0.8');
  t.deepEqual(peers.peers(), [], 'nobody answers for it at the address the push came from');
  await peers.receivePush('peer-unit-0007', info('peer-unit-0007', ['Attic'], '5.0'), '::ffff:10.0.0.7');
  t.like(peers.peer('peer-unit-0007'), { address: '10.0.0.7:5000', source: 'inbound', online: true, users: ['Attic'] });
});

test('addresses where no unit of the site answers are still asked every pollIntervalMs (the untrusted list)', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', [], '1.0'));
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  peers.addCandidate({ host: '10.0.0.9', port: 5000, source: 'static' });
  peers.start();
  await clock.advance(5_000);
  t.is(network.asked.filter((url) => url === 'http://10.0.0.5:5000').length, 1);
  t.true(network.asked.filter((url) => url === 'http://10.0.0.9:5000').length >= 5, 'about once a second');
  t.like(peers.untrusted()[0], { address: '10.0.0.9:5000', reason: 'unreachable' });
  peers.stop();
});

test('a probed unit found offline moves at once to where it answers itself', async (t) => {
  const clock = new FakeClock();
  const network = fakeNetwork();
  const garage = info('peer-unit-0001', ['Workshop'], '1.0');
  network.answers.set('http://10.0.0.5:5000', garage);
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  peers.start();
  await clock.advance(0);
  network.answers.set('http://10.0.0.7:5000', garage);
  // Announced at a second address while it answers probes at the first: it stays.
  peers.addCandidate({ host: '10.0.0.7', port: 5000, source: 'dns-sd' });
  await clock.advance(0);
  t.is(peers.peer('peer-unit-0001')!.address, '10.0.0.5:5000');
  peers.markOffline('peer-unit-0001', 'test');
  network.answers.set('http://10.0.0.5:5000', null);
  peers.addCandidate({ host: '10.0.0.7', port: 5000, source: 'dns-sd' });
  await clock.advance(0);
  t.like(peers.peer('peer-unit-0001'), { address: '10.0.0.7:5000', online: true });
  peers.stop();
});

test('info versions: another epoch or a later count supersedes', (t) => {
  t.true(supersedes('100.2', '100.1'));
  t.false(supersedes('100.1', '100.1'));
  t.false(supersedes('100.1', '100.2'));
  t.true(supersedes('99.0', '100.7'), 'a restart with a clock set back');
});

/** A directory that has found two units by DNS-SD (Workshop at .5, Garden at .6) and asked each once. */
async function twoUnitsFound() {
  const clock = new FakeClock();
  const network = fakeNetwork();
  network.answers.set('http://10.0.0.5:5000', info('peer-unit-0001', ['Workshop'], '100.0'));
  network.answers.set('http://10.0.0.6:5000', info('peer-unit-0002', ['Garden'], '200.0'));
  const peers = directory(network, clock);
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  peers.addCandidate({ host: '10.0.0.6', port: 5000, source: 'dns-sd' });
  peers.start();
  await clock.advance(0);
  return { clock, network, peers };
}

test('failed probes: a unit that acked is offline once its HTTP does not answer either (one request); one that never did is asked over HTTP, and polled instead once it keeps answering there', async (t) => {
  const { clock, network, peers } = await twoUnitsFound();

  peers.noteAlive('peer-unit-0001', '100.0', true);
  t.true(peers.probeConfirmed('peer-unit-0001'));
  network.answers.set('http://10.0.0.5:5000', null);
  let asked = network.asked.length;
  t.is(await peers.probeFailed('peer-unit-0001', 'test', 'watch'), 'offline', 'acked before, and its HTTP silent: gone, as SWIM says');
  t.is(network.asked.length, asked + 1, 'after one request to its HTTP');
  t.false(peers.peer('peer-unit-0001')!.online);
  await clock.advance(10_000);
  t.is(network.asked.length, asked + 1, 'and it is not polled after');
  asked = network.asked.length;

  // Its own ping proves it alive but not that its probe address works from here.
  peers.noteAlive('peer-unit-0002', '200.0', false);
  t.false(peers.probeConfirmed('peer-unit-0002'));
  t.is(await peers.probeFailed('peer-unit-0002', 'test'), 'answers-http');
  t.is(network.asked.length, asked + 1, 'its HTTP was asked');
  t.true(peers.peer('peer-unit-0002')!.online);
  t.is(await peers.probeFailed('peer-unit-0002', 'test'), 'not-probeable');
  t.true(peers.peer('peer-unit-0002')!.online);
  t.false(peers.probeMembers().some((member) => member.unitId === 'peer-unit-0002'));
  t.deepEqual(peers.unprobedMembers(), [{ unitId: 'peer-unit-0002', host: '10.0.0.6', port: 5000, online: true }]);
  t.is(await peers.probeFailed('peer-unit-0002', 'test'), 'not-probeable', 'no longer judged by probes');

  // Polled every pollIntervalMs now, and offline once its HTTP stops answering.
  const before = network.asked.filter((url) => url === 'http://10.0.0.6:5000').length;
  await clock.advance(5000);
  t.true(network.asked.filter((url) => url === 'http://10.0.0.6:5000').length >= before + 4);
  t.true(peers.peer('peer-unit-0002')!.online);
  network.answers.set('http://10.0.0.6:5000', null);
  await clock.advance(4000);
  t.false(peers.peer('peer-unit-0002')!.online);

  // Back, and acking: probed again.
  network.answers.set('http://10.0.0.6:5000', info('peer-unit-0002', ['Garden'], '200.0'));
  await clock.advance(1000);
  t.true(peers.peer('peer-unit-0002')!.online);
  peers.noteAlive('peer-unit-0002', '200.0', true);
  t.true(peers.probeMembers().some((member) => member.unitId === 'peer-unit-0002'));
  t.deepEqual(peers.unprobedMembers(), []);

  // A unit that never acked and whose HTTP does not answer either is offline.
  network.answers.set('http://10.0.0.7:5000', info('peer-unit-0003', [], '300.0'));
  peers.addCandidate({ host: '10.0.0.7', port: 5000, source: 'dns-sd' });
  await clock.advance(0);
  network.answers.set('http://10.0.0.7:5000', null);
  t.is(await peers.probeFailed('peer-unit-0003', 'test'), 'offline');
  t.false(peers.peer('peer-unit-0003')!.online);
  peers.stop();
});

function refusingNetwork() {
  const network = fakeNetwork();
  const refusing = new Set<string>();
  return {
    ...network,
    refusing,
    client: {
      async info(baseUrl: string, unitId: string | null): Promise<PeerResult<UnitInfo>> {
        if (!refusing.has(baseUrl)) return network.client.info(baseUrl, unitId);
        network.asked.push(baseUrl);
        // As a unit of a site whose secret was rotated answers: 401, not signed with our secret.
        return { kind: 'unreachable', message: "not signed with this site's secret", unverified: { status: 401, error: 'unauthorized' } };
      },
    },
  };
}

test('failed probes of a unit that acked: a refusal of its HTTP makes it a former peer (untrusted, its users gone), not an offline unit', async (t) => {
  const clock = new FakeClock();
  const network = refusingNetwork();
  network.answers.set('http://10.0.0.5:5000', { ...info('peer-unit-0001', ['Hall'], '100.0'), name: 'Hall' });
  network.answers.set('http://10.0.0.6:5000', { ...info('peer-unit-0002', ['Kitchen'], '200.0'), name: 'Kitchen' });
  const peers = new PeerDirectory({ selfUnitId: 'self-unit-0000', selfName: 'Garage', client: network.client, localUsers: () => ['Garage'], clock, pollIntervalMs: 1000, offlineAfterMs: 3000, probed: () => true });
  peers.addCandidate({ host: '10.0.0.5', port: 5000, source: 'dns-sd' });
  peers.addCandidate({ host: '10.0.0.6', port: 5000, source: 'static' });
  peers.start();
  await clock.advance(0);
  peers.noteAlive('peer-unit-0001', '100.0', true);
  peers.noteAlive('peer-unit-0002', '200.0', true);

  // This unit was removed: the others rotated their secret; its probes fail their MAC, its HTTP is refused.
  network.refusing.add('http://10.0.0.5:5000');
  network.refusing.add('http://10.0.0.6:5000');
  const asked = network.asked.length;
  t.is(await peers.probeFailed('peer-unit-0001', 'test', 'watch'), 'former-peer');
  t.is(await peers.probeFailed('peer-unit-0002', 'test', 'watch'), 'former-peer');
  t.is(network.asked.length, asked + 2, 'one request each');
  t.deepEqual(peers.peers(), [], 'not listed as offline units: gone from the directory');
  t.deepEqual(peers.entries().map((entry) => entry.name), ['Garage'], 'their users too');
  t.deepEqual(peers.probeMembers(), [], 'no longer probed');
  t.deepEqual(
    peers.formerPeers().map((peer) => peer.name).sort(),
    ['Hall', 'Kitchen'],
  );
  const untrusted = peers.untrusted();
  t.deepEqual(untrusted.map((entry) => [entry.address, entry.reason]), [['10.0.0.5:5000', 'former-peer'], ['10.0.0.6:5000', 'former-peer']]);
  t.regex(untrusted[0].message, /Hall was a unit of this site and no longer accepts this unit/);
  // Their addresses are asked as strangers' now (the untrusted list's poll), and stay former peers.
  await clock.advance(3000);
  t.like(peers.untrusted()[1], { reason: 'former-peer' });
  peers.stop();
});

test('failed probes of a unit that acked: a signed answer over HTTP keeps it online (its probe address in doubt); another unit\'s word is checked by probes alone', async (t) => {
  const { clock, network, peers } = await twoUnitsFound();
  peers.noteAlive('peer-unit-0001', '100.0', true);
  peers.noteAlive('peer-unit-0002', '200.0', true);

  let asked = network.asked.length;
  t.is(await peers.probeFailed('peer-unit-0001', 'test', 'watch'), 'answers-http');
  t.is(network.asked.length, asked + 1);
  t.true(peers.peer('peer-unit-0001')!.online);
  t.false(peers.probeConfirmed('peer-unit-0001'), 'its probe address is in doubt until it acks again');
  t.is(await peers.probeFailed('peer-unit-0001', 'test', 'watch'), 'not-probeable', 'failing again while its HTTP answers: polled instead');
  t.true(peers.peer('peer-unit-0001')!.online);

  // Another unit found peer-unit-0002 gone and this unit's probes agree: offline without HTTP (the finder asked it).
  asked = network.asked.length;
  t.is(await peers.probeFailed('peer-unit-0002', 'test', 'hearsay'), 'offline');
  t.is(network.asked.length, asked);
  t.false(peers.peer('peer-unit-0002')!.online);
  peers.stop();
});
