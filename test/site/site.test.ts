import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { backlogDrops, machineDescription, netnsAvailable, siteNamespaces, startNetnsSite } from '../support/netns-site.js';
import type { SiteWindow } from '../support/site-figures.js';
import type { VanishResult } from '../support/netns-site.js';

// A site of real unit processes on one machine, each in its own network namespace on one bridge,
// finding each other by DNS-SD multicast for real (test/support/netns-site.ts). One site is grown
// through the sizes in INTERCOM_SITE_UNITS (default 10; "10,50,100" costs one start of 100 units); at each
// size it checks that every unit sees the whole site and a call crosses it, and measures per unit:
// idle CPU, memory and packets per second, and the time until a new unit is seen by all. At the
// largest size (at every size with INTERCOM_SITE_VANISH_EVERY_SIZE=1) a group vanishes at once (20,
// half the site at most) and is plugged back. The per-unit figures must stay flat as the site
// grows. They are printed and written to test-artifacts/site/.
//
// The issue's targets for a site without polling (at most 2 packets/s per idle unit, a new unit
// seen by all within 5 s, one unplugged noticed within 10 s): the packet budget is always
// asserted; the two timings only when INTERCOM_SITE_TARGETS=1 (a loaded CI machine stretches
// them), otherwise reported.
//
//   INTERCOM_SITE_UNITS=10,20,50 npx ava --timeout=30m test/site/site.test.ts

const SIZES = (process.env.INTERCOM_SITE_UNITS ?? '10')
  .split(',')
  .map((size) => Number(size.trim()))
  .filter((size) => size >= 4)
  .sort((a, b) => a - b);
const WINDOW_MS = Number(process.env.INTERCOM_SITE_WINDOW_MS ?? 20_000);
/** Quiet time after the test's own requests before an idle window (HTTP keep-alive closes within 5 s). */
const IDLE_SETTLE_MS = 10_000;
const ASSERT_TARGETS = process.env.INTERCOM_SITE_TARGETS === '1';
const VANISH_EVERY_SIZE = process.env.INTERCOM_SITE_VANISH_EVERY_SIZE === '1';
/**
 * "Flat, not growing": a unit of the largest site may cost this much more than one of the smallest.
 * Idle CPU per unit was 0.58 % of a core at 10 units and 0.61 % at 50 (measured 2026-12-06); RSS
 * 137 and 112 MiB (the garbage collector, not the site, moves it by tens of MiB).
 */
const FLAT = { cpuFactor: 2, cpuSlackPercent: 0.3, rssFactor: 1.3 };
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/site/', import.meta.url));

export const TARGETS = { packetsPerSecond: 2, joinSeenByAllMs: 5000, unpluggedNoticedMs: 10_000 };

const inNamespaces = (await netnsAvailable()) ? test.serial : test.skip;

function figuresLine(label: string, window: SiteWindow): string {
  const f = (value: number, digits = 1) => value.toFixed(digits);
  return (
    `${label}: CPU per unit ${f(window.cpuPercent.mean, 2)} % of a core (p95 ${f(window.cpuPercent.p95, 2)}, max ${f(window.cpuPercent.max, 2)}), ` +
    `children ${f(window.childCpuPercent.mean, 2)} %, site total ${f(window.totalCpuPercent)} %; RSS ${f(window.rssMiB.mean, 0)} MiB (max ${f(window.rssMiB.max, 0)}); ` +
    `packets/s sent ${f(window.txPerSecond.mean)} (max ${f(window.txPerSecond.max)}), received ${f(window.rxPerSecond.mean)} (max ${f(window.rxPerSecond.max)})`
  );
}

interface SizeRecord {
  size: number;
  startSeconds: number;
  /** How long until all saw all, or null when they did not within the time allowed. */
  allSeeAllMs: number | null;
  /** Views still missing then ("S1 does not see S5"), of size * (size - 1). */
  missingViews: number;
  idle: SiteWindow;
  join: { unit: string; seenByAllAfterReadyMs: number; seenByAllAfterSpawnMs: number; slowestViewer: string } | null;
  vanished: VanishResult | null;
  afterVanish: SiteWindow | null;
  misses: string[];
  failures: string[];
}

inNamespaces(`one site grown to ${SIZES.join(', ')} units on a bridge: all see all, a call crosses it, figures per unit, a unit joins, a group vanishes and comes back`, async (t) => {
  // A safety net, not a target: 10 minutes plus 30 s per unit of the largest size (a shared machine is slow to start units).
  t.timeout(Number(process.env.INTERCOM_SITE_TIMEOUT_MS ?? 10 * 60_000 + Math.max(...SIZES) * 30_000));
  const startedAt = performance.now();
  const dropsBefore = backlogDrops();
  const site = await startNetnsSite(t, { units: SIZES[0] });
  t.log(`machine: ${machineDescription()}`);
  const records: SizeRecord[] = [];
  // Each step's failure is recorded and the run goes on, so a site that falls apart still yields its figures; the test fails at the end.
  const step = async <T>(failures: string[], what: string, run: () => Promise<T>): Promise<T | null> => {
    try {
      return await run();
    } catch (error) {
      failures.push(`${what}: ${(error as Error).message.split('\n')[0]}`);
      t.log(`FAILED ${what}: ${(error as Error).message.split('\n')[0]}`);
      return null;
    }
  };
  let grownAt = startedAt;
  for (const size of SIZES) {
    const failures: string[] = [];
    await site.grow(size);
    const startSeconds = (performance.now() - grownAt) / 1000;
    t.log(`${size} units started (${startSeconds.toFixed(1)} s; packets the machine dropped so far, queues full: ${backlogDrops() - dropsBefore})`);
    const allSeeAllMs = await step(failures, `every unit sees the other ${size - 1}`, () => site.untilAllSeeAll(Math.max(120_000, size * 3000)));
    const missingViews = site.missingViews().length;
    if (allSeeAllMs === null) t.log(`${missingViews} of ${size * (size - 1)} views missing`);

    // The same truth through the API, and a call from one end of the site to the other.
    await step(failures, 'a call across the site', async () => {
      const [first, last] = [site.units[0], site.units[size - 1]];
      // A unit may first be introduced by another's presence push (source 'inbound') or named by a
      // unit comparing views ('site'); its DNS-SD announcement follows within seconds and says
      // where it was found, unless all three were lost while many units started at once (a unit
      // the site knows does not announce itself again; seen at 50: 6 of the last 8 started).
      type PeerRow = { name: string; online: boolean; source: string };
      let peers: PeerRow[] = [];
      const foundByDnsSd = () => peers.filter((peer) => peer.online && peer.source === 'dns-sd').length;
      const dnsSdDeadline = performance.now() + 15_000;
      do {
        const answer = await site.api(first, 'GET', '/api/peers');
        t.is(answer.status, 200);
        peers = answer.body.peers;
        if (allSeeAllMs === null || foundByDnsSd() === site.running().length - 1) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      } while (performance.now() < dnsSdDeadline);
      if (allSeeAllMs !== null) {
        const others = site.running().length - 1;
        const shown = JSON.stringify(peers.map(({ name, online, source }) => ({ name, online, source })));
        if (foundByDnsSd() < others) t.log(`${first.name} found ${foundByDnsSd()} of ${others} units by DNS-SD, the rest through other units`);
        t.true(foundByDnsSd() >= Math.ceil(0.75 * others), `found by DNS-SD, at least three quarters: ${shown}`);
        t.true(peers.filter((peer) => peer.online && ['dns-sd', 'inbound', 'site'].includes(peer.source)).length === others, `the rest through other units, all online: ${shown}`);
      }
      const [caller, callee] = [`Lobby ${size}`, `Roof ${size}`];
      t.is((await site.api(first, 'POST', '/api/users/register', { name: caller })).status, 201);
      t.is((await site.api(last, 'POST', '/api/users/register', { name: callee })).status, 201);
      const knowsCallee = async () => ((await site.api(first, 'GET', '/api/users')).body.users as Array<{ name: string; online: boolean }>).some((user) => user.name === callee && user.online);
      const deadline = performance.now() + 30_000;
      while (!(await knowsCallee())) {
        if (performance.now() > deadline) throw new Error(`the first unit never learnt the user ${callee} of the last unit`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const initiated = await site.api(first, 'POST', '/api/signal/initiate', { from: caller, to: callee });
      if (initiated.body.call?.phase !== 'ringing') throw new Error(`the call did not ring: ${JSON.stringify(initiated.body)}`);
      const incoming = await site.api(last, 'GET', `/api/signal/incoming?user=${encodeURIComponent(callee)}`);
      t.is(incoming.body.calls[0]?.id, initiated.body.call.id, 'the call rings at the other end of the site');
      t.is((await site.api(first, 'POST', '/api/signal/end', { callId: initiated.body.call.id })).status, 200);
    });

    // Idle figures once the site has settled (or not): the call and the two users registered just
    // now were pushed to every unit over HTTP, and those connections close a few seconds later
    // (keep-alive). Measured straight after, a unit that pushed showed 6 packets/s for a minute
    // of what was its users' activity, not its idle cost (a capture on an idle unit: 1.0 sent,
    // 1.4 received per second: probes, ARP, mDNS refreshes).
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
    const idle = await site.measure(WINDOW_MS);
    t.log(figuresLine(`idle, ${idle.units.length} units`, idle));

    const join = await step(failures, 'a new unit seen by all', () => site.join());
    if (join) t.log(`a new unit (${join.unit.name}) was seen by all ${join.seenByAllAfterReadyMs} ms after it was ready (${join.seenByAllAfterSpawnMs} ms after its process started; slowest: ${join.slowestViewer})`);

    // The slowest step (a minute and more at 50 units); the smaller sizes skip it unless asked.
    const vanishesHere = VANISH_EVERY_SIZE || size === SIZES[SIZES.length - 1];
    let gone: VanishResult | null = null;
    let afterVanish: SiteWindow | null = null;
    if (vanishesHere) {
      const count = Math.min(20, Math.floor(site.running().length / 2));
      const victims = site.running().slice(1, 1 + count);
      gone = await step(failures, `${count} units unplugged at once noticed by all`, () => site.vanish(victims, 'unplug'));
      if (gone) {
        t.log(`${count} units unplugged at once: all the others showed them offline after ${gone.allNoticedAfterMs} ms (${gone.staleAfter10s.views} of ${gone.staleAfter10s.of} views still online after 10 s)`);
        t.log(`how they were found gone: ${Object.entries(gone.byWhy).map(([why, views]) => `${views} views: ${why}`).join('; ')}`);
        t.log(`slowest: ${gone.slowest.join('; ')}`);
        t.log(`other warnings meanwhile: ${JSON.stringify(gone.warnings)}`);
      }
      afterVanish = await site.measure(WINDOW_MS);
      t.log(figuresLine(`with ${count} unplugged, ${afterVanish.units.length} units`, afterVanish));
      await site.plug(victims);
      if ((await step(failures, 'all see all again after plugging back', () => site.untilAllSeeAll(Math.max(120_000, size * 3000)))) !== null) t.log('plugged back in: all see all again');
    }

    const misses = [
      idle.txPerSecond.max > TARGETS.packetsPerSecond && `idle units send up to ${idle.txPerSecond.max.toFixed(1)} packets/s (target ${TARGETS.packetsPerSecond})`,
      idle.rxPerSecond.max > TARGETS.packetsPerSecond && `idle units receive up to ${idle.rxPerSecond.max.toFixed(1)} packets/s (target ${TARGETS.packetsPerSecond})`,
      (!join || join.seenByAllAfterReadyMs > TARGETS.joinSeenByAllMs) && `a new unit was seen by all after ${join ? `${join.seenByAllAfterReadyMs} ms` : 'never'} (target ${TARGETS.joinSeenByAllMs})`,
      vanishesHere && (!gone || gone.allNoticedAfterMs > TARGETS.unpluggedNoticedMs) && `unplugged units were noticed after ${gone ? `${gone.allNoticedAfterMs} ms` : 'never'} (target ${TARGETS.unpluggedNoticedMs})`,
    ].filter((miss): miss is string => typeof miss === 'string');
    if (ASSERT_TARGETS) t.deepEqual(misses, [], `the issue's targets at ${size} units`);
    else {
      // The packet budget holds by default (it is what presence without polling is for, and a
      // busy machine does not move it); the timing targets are asserted with INTERCOM_SITE_TARGETS=1.
      t.true(idle.txPerSecond.max <= TARGETS.packetsPerSecond && idle.rxPerSecond.max <= TARGETS.packetsPerSecond, `idle packets/s per unit at ${size} units: sent up to ${idle.txPerSecond.max.toFixed(1)}, received up to ${idle.rxPerSecond.max.toFixed(1)} (target ${TARGETS.packetsPerSecond})`);
      if (misses.length > 0) t.log(`issue targets missed at ${size} units (not asserted): ${misses.join('; ')}`);
    }
    grownAt = performance.now();
    records.push({ size, startSeconds, allSeeAllMs, missingViews, idle, join: join ? { ...join, unit: join.unit.name } : null, vanished: gone, afterVanish, misses, failures });
  }

  await mkdir(ARTIFACTS, { recursive: true });
  const file = `${ARTIFACTS}site-${SIZES.join('-')}.json`;
  await writeFile(file, `${JSON.stringify({ date: new Date().toISOString(), machine: machineDescription(), totalSeconds: (performance.now() - startedAt) / 1000, sizes: records }, null, 2)}\n`);
  t.log(`figures: ${file}`);

  await site.close();
  t.deepEqual(
    siteNamespaces().filter((name) => name.startsWith(`icsite-${process.pid}-`)),
    [],
    'every namespace, veth and the bridge are gone',
  );
  t.true(site.units.every((unit) => !unit.alive), 'every unit process has exited');
  t.deepEqual(records.flatMap((record) => record.failures.map((failure) => `${record.size} units: ${failure}`)), [], 'every step at every size');
  if (records.length > 1) {
    const [smallest, largest] = [records[0], records[records.length - 1]];
    const flat = (what: string, small: number, large: number, allowed: number, unit: string) =>
      t.true(large <= allowed, `${what} per idle unit stays flat: ${small.toFixed(2)} ${unit} at ${smallest.size} units, ${large.toFixed(2)} at ${largest.size} (at most ${allowed.toFixed(2)})`);
    flat('CPU', smallest.idle.cpuPercent.mean, largest.idle.cpuPercent.mean, smallest.idle.cpuPercent.mean * FLAT.cpuFactor + FLAT.cpuSlackPercent, '% of a core');
    flat('RSS', smallest.idle.rssMiB.mean, largest.idle.rssMiB.mean, smallest.idle.rssMiB.mean * FLAT.rssFactor, 'MiB');
    t.log(`per idle unit, ${records.map((record) => `${record.size} units: CPU ${record.idle.cpuPercent.mean.toFixed(2)} %, RSS ${record.idle.rssMiB.mean.toFixed(0)} MiB, packets/s ${record.idle.txPerSecond.mean.toFixed(1)} sent / ${record.idle.rxPerSecond.mean.toFixed(1)} received`).join('; ')}`);
  }
  t.log(`whole run ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
});
