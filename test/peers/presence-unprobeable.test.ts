import test from 'ava';
import { PresenceSimulation, type SimUnit } from '../support/presence-simulation.js';

/**
 * A unit whose HTTP this unit reaches but whose probe port it cannot (behind a NAT that forwards
 * only its HTTP port, as the appliance test's QEMU guest is, or a firewall passing TCP only): it is
 * not declared offline by probes that could never reach it, but polled over HTTP as before
 * presence; a unit that acked probes and then stops is gone as SWIM says; one that becomes
 * reachable is probed again. Simulated site on a fake clock (test/support/presence-simulation.ts).
 */

const POLL_MS = 10_000;
const OFFLINE_AFTER_MS = 3000;

/** Advances `ms` in steps, failing the test at the first step where `holds` does not. */
async function staysTrue(site: PresenceSimulation, ms: number, holds: () => boolean): Promise<number | null> {
  const start = site.clock.now();
  while (site.clock.now() - start < ms) {
    await site.clock.advance(250);
    if (!holds()) return site.clock.now() - start;
  }
  return null;
}

const others = (site: PresenceSimulation, unit: SimUnit) => site.units.filter((other) => other !== unit);
const seenOnlineByAll = (site: PresenceSimulation, unit: SimUnit, online: boolean) => others(site, unit).every((other) => other.directory.peer(unit.unitId)?.online === online);
const probedBy = (observer: SimUnit, unit: SimUnit) => observer.directory.probeMembers().some((member) => member.unitId === unit.unitId);

test('a unit whose probe port is out of reach but whose HTTP answers stays online, is polled over HTTP, and goes offline when its HTTP stops', async (t) => {
  const site = new PresenceSimulation(6);
  t.teardown(() => site.stop());
  const guest = site.units[3];
  guest.behindNat = true;
  site.start();
  t.not(await site.timeUntil(() => site.converged(), 10_000), null, 'every unit sees every other online');

  const flapped = await staysTrue(site, 60_000, () => site.converged());
  t.is(flapped, null, `nobody showed it (or anyone) offline in a minute (failed after ${flapped} ms)`);
  for (const other of others(site, guest)) {
    t.false(probedBy(other, guest), `${other.unitId} no longer probes it`);
    t.true(other.directory.unprobedMembers().some((member) => member.unitId === guest.unitId), 'but pings it now and then');
    const said = other.logs.filter((line) => line.unitId === guest.unitId && /never acked a probe/.test(line.msg));
    t.is(said.length, 1, 'said once in the log, with why');
  }
  // The other way, out through its NAT: acks go back to where its pings came from, so it probes everyone.
  for (const other of others(site, guest)) t.true(guest.directory.probeConfirmed(other.unitId), `it probes ${other.unitId}`);

  site.resetCounts();
  await site.clock.advance(60_000);
  const polls = guest.http.served;
  t.log(`HTTP requests served by it in 60 s: ${polls} (5 units, poll every ${POLL_MS} ms)`);
  t.true(polls >= 5 * 5 && polls <= 5 * 7, `each unit polls it about every pollIntervalMs (${polls})`);
  t.true(site.converged());

  guest.httpAnswers = false;
  const gone = await site.timeUntil(() => seenOnlineByAll(site, guest, false), 2 * POLL_MS + OFFLINE_AFTER_MS);
  t.log(`its HTTP stopped: offline everywhere after ${gone} ms`);
  t.not(gone, null, 'shown offline by every unit within a poll interval and offlineAfterMs or so');
  t.true(others(site, guest).every((other) => site.units.filter((unit) => unit !== other && unit !== guest).every((unit) => other.directory.peer(unit.unitId)!.online)), 'the rest stay online');

  guest.httpAnswers = true;
  const back = await site.timeUntil(() => seenOnlineByAll(site, guest, true), POLL_MS + 1000);
  t.log(`its HTTP back: online everywhere after ${back} ms`);
  t.not(back, null, 'back online at the next poll');
});

test('a unit that acked probes and then stops is declared offline by probing, within the usual 10 s', async (t) => {
  const site = new PresenceSimulation(6);
  t.teardown(() => site.stop());
  site.start();
  t.not(await site.timeUntil(() => site.converged(), 10_000), null);
  await site.clock.advance(5_000);
  const gone = site.units[2];
  for (const other of others(site, gone)) t.true(other.directory.probeConfirmed(gone.unitId), `${other.unitId} has had its ack`);
  gone.plugged = false;
  const offline = await site.timeUntil(() => site.converged(), 10_000);
  t.log(`unplugged: offline everywhere after ${offline} ms`);
  t.not(offline, null);
  for (const other of others(site, gone)) t.true(probedBy(other, gone), 'still left to the prober (not moved to HTTP polling)');
  site.resetCounts();
  await site.clock.advance(30_000);
  t.is(gone.http.made + site.units.reduce((sum, unit) => sum + unit.http.made, 0), 0, 'nobody polls it over HTTP');
});

test('a unit polled because its probe port was out of reach is probed again once it can be reached; then it is gone by SWIM', async (t) => {
  const site = new PresenceSimulation(5);
  t.teardown(() => site.stop());
  const guest = site.units[1];
  guest.behindNat = true;
  site.start();
  t.not(await site.timeUntil(() => site.converged(), 10_000), null);
  t.not(await site.timeUntil(() => others(site, guest).every((other) => !probedBy(other, guest)), 30_000), null, 'every unit polls it instead of probing it');

  guest.behindNat = false;
  const probedAgain = await site.timeUntil(() => others(site, guest).every((other) => probedBy(other, guest)), 3 * POLL_MS);
  t.log(`reachable by UDP: probed by every unit again after ${probedAgain} ms`);
  t.not(probedAgain, null, 'probed again within a few backstop periods');
  t.true(others(site, guest).every((other) => other.logs.some((line) => line.unitId === guest.unitId && /answers probes now/.test(line.msg))));

  // Probed again: silence over UDP takes it offline even though it is not polled.
  await site.clock.advance(5_000);
  guest.plugged = false;
  const offline = await site.timeUntil(() => site.converged(), 10_000);
  t.log(`then unplugged: offline everywhere after ${offline} ms`);
  t.not(offline, null);
});
