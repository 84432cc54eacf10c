import test from 'ava';
import { PresenceSimulation, type SimUnit } from '../support/presence-simulation.js';

/**
 * A unit removed from the site (its secret rotated without it, src/site/site-membership.ts): its
 * probes of the units that stay fail the MAC check there, and theirs of it fail here. It must not
 * merely show them offline: the one signed HTTP request its watch makes before declaring a unit
 * gone is refused with 401, so it lists them as former peers that no longer accept it (why, for
 * its people), as it did when every unit was polled. The units that stay keep their site and say
 * the refused datagrams in the log at most once a minute. Simulated site on a fake clock
 * (test/support/presence-simulation.ts).
 */

const ROTATED_SECRET = 'the-presence-simulation-rotated-secret';

const stayersOf = (site: PresenceSimulation, removed: SimUnit) => site.units.filter((unit) => unit !== removed);

test('a removed unit whose probes start failing lists the units that stay as former peers (untrusted), not as offline units', async (t) => {
  const site = new PresenceSimulation(4);
  t.teardown(() => site.stop());
  site.start();
  t.not(await site.timeUntil(() => site.converged(), 10_000), null);
  // Long enough for every unit to have had an ack from every other (so failed probes mean gone, by SWIM).
  await site.clock.advance(5_000);
  const removed = site.units[1];
  const stayers = stayersOf(site, removed);
  for (const unit of stayers) t.true(removed.directory.probeConfirmed(unit.unitId), `the removed unit has had ${unit.unitId}'s ack`);

  // The rotation: the units that stay take a new secret and forget the removed unit (as SiteMembership.remove and its commit do).
  for (const unit of stayers) {
    unit.secret = ROTATED_SECRET;
    unit.directory.forgetPeer(removed.unitId);
  }
  site.resetCounts();
  const refusedBefore = stayers.map((unit) => unit.presence.counters().refused);
  const allFormer = () => {
    const former = new Set(removed.directory.formerPeers().map((peer) => peer.unitId));
    return stayers.every((unit) => former.has(unit.unitId));
  };
  const took = await site.timeUntil(allFormer, 15_000);
  t.log(`the removed unit lists all ${stayers.length} as former peers after ${took} ms, with ${removed.http.made} HTTP requests`);
  t.not(took, null, 'every unit that stays is a former peer on the removed unit');
  t.deepEqual(removed.directory.peers(), [], 'none is left in its directory as a peer (offline or not)');
  t.deepEqual(removed.directory.entries().map((entry) => entry.name), removed.users, 'their users leave its directory');
  const untrusted = removed.directory.untrusted();
  t.deepEqual(untrusted.map((entry) => entry.reason), stayers.map(() => 'former-peer'));
  for (const entry of untrusted) t.regex(entry.message, /no longer accepts this unit/);
  t.true(removed.http.made <= 2 * stayers.length, `one check per unit that stopped answering, not polling (${removed.http.made} requests)`);
  t.true(stayers.some((unit, index) => unit.presence.counters().refused > refusedBefore[index]), 'its old-secret datagrams reached the units that stay and were refused');

  // The units that stay keep their site; a minute later nothing has changed for them or it.
  await site.clock.advance(60_000);
  for (const unit of stayers) {
    const others = stayers.filter((other) => other !== unit);
    t.true(others.every((other) => unit.directory.peer(other.unitId)?.online === true), `${unit.unitId} sees the others that stay online`);
    t.is(unit.directory.peer(removed.unitId), null, `${unit.unitId} does not take the removed unit back`);
    const said = unit.logs.filter((line) => /presence datagrams refused/.test(line.msg));
    t.true(said.length <= 2, `refused datagrams are said at most once a minute, not per datagram (${said.length} lines)`);
  }
  t.true(allFormer(), 'still former peers, not offline units');
  t.deepEqual(removed.directory.peers(), []);
});

test('a unit that vanished is still seen offline everywhere within 10 s, though its watch asks its HTTP first (and waits out the request timeout)', async (t) => {
  const site = new PresenceSimulation(6, { httpTimeoutMs: 1500 });
  t.teardown(() => site.stop());
  site.start();
  t.not(await site.timeUntil(() => site.converged(), 10_000), null);
  await site.clock.advance(5_000);
  const gone = site.units[3];
  site.resetCounts();
  gone.plugged = false;
  const offline = await site.timeUntil(() => site.converged(), 15_000);
  t.log(`unplugged: offline everywhere after ${offline} ms (HTTP requests time out after 1500 ms)`);
  t.not(offline, null);
  t.true(offline! <= 10_000, `within 10 s (took ${offline} ms)`);
  t.log(`HTTP requests sent to it while it was found gone: ${gone.http.addressed}`);
  t.is(gone.http.addressed, 1, 'one check, by its watch; the others check its absence with their probes');
  site.resetCounts();
  await site.clock.advance(30_000);
  t.is(gone.http.addressed, 0, 'then nobody polls it over HTTP');
  t.true(site.units.every((unit) => unit === gone || unit.http.made === 0), 'nor anyone else (the site is idle)');
});
