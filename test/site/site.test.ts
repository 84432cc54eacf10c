import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { machineDescription, netnsAvailable, siteNamespaces, startNetnsSite } from '../support/netns-site.js';
import type { SiteWindow } from '../support/site-figures.js';
import type { VanishResult } from '../support/netns-site.js';

// A site of real unit processes on one machine, each in its own network namespace on one bridge,
// finding each other by DNS-SD multicast for real (test/support/netns-site.ts). One site is grown
// through the sizes in INTERCOM_SITE_UNITS (default 10; "10,50,100" costs one start of 100 units);
// at each size it checks that every unit sees the whole site and a call crosses it, and measures
// per unit: idle CPU, memory and packets per second, the time until a new unit is seen by all, and
// what happens when a group vanishes at once (up to 20, half the site at most), before plugging it
// back. The figures are printed and written to test-artifacts/site/.
//
// The targets for a site without polling (at most 2 packets/s per idle unit, a new unit
// seen by all within 5 s, one unplugged noticed within 10 s) are checked when
// INTERCOM_SITE_TARGETS=1; today's polling directory misses them by design, so by default they are
// only reported.
//
//   INTERCOM_SITE_UNITS=10,20,50 npx ava --timeout=30m test/site/site.test.ts

const SIZES = (process.env.INTERCOM_SITE_UNITS ?? '10')
  .split(',')
  .map((size) => Number(size.trim()))
  .filter((size) => size >= 4)
  .sort((a, b) => a - b);
const WINDOW_MS = Number(process.env.INTERCOM_SITE_WINDOW_MS ?? 20_000);
const ASSERT_TARGETS = process.env.INTERCOM_SITE_TARGETS === '1';
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
  allSeeAllMs: number;
  idle: SiteWindow;
  join: { unit: string; seenByAllAfterReadyMs: number; seenByAllAfterSpawnMs: number; slowestViewer: string };
  vanished: VanishResult;
  afterVanish: SiteWindow;
  misses: string[];
}

inNamespaces(`one site grown to ${SIZES.join(', ')} units on a bridge: all see all, a call crosses it, figures per unit, a unit joins, a group vanishes and comes back`, async (t) => {
  t.timeout(Math.max(10 * 60_000, Math.max(...SIZES) * 20_000));
  const startedAt = performance.now();
  const site = await startNetnsSite(t, { units: SIZES[0] });
  t.log(`machine: ${machineDescription()}`);
  const records: SizeRecord[] = [];
  for (const size of SIZES) {
    const grownAt = performance.now();
    await site.grow(size);
    const allSeeAllMs = await site.untilAllSeeAll(Math.max(120_000, size * 3000));
    t.log(`${size} units running ${((performance.now() - grownAt) / 1000).toFixed(1)} s after growing; all saw all`);

    // The same truth through the API, and a call from one end of the site to the other.
    const [first, last] = [site.units[0], site.units[size - 1]];
    const peers = await site.api(first, 'GET', '/api/peers');
    t.is(peers.status, 200);
    t.is(peers.body.peers.filter((peer: { online: boolean; source: string }) => peer.online && peer.source === 'dns-sd').length, site.running().length - 1, 'found by DNS-SD, online');
    const [caller, callee] = [`Lobby ${size}`, `Roof ${size}`];
    t.is((await site.api(first, 'POST', '/api/users/register', { name: caller })).status, 201);
    t.is((await site.api(last, 'POST', '/api/users/register', { name: callee })).status, 201);
    const knowsCallee = async () => ((await site.api(first, 'GET', '/api/users')).body.users as Array<{ name: string; online: boolean }>).some((user) => user.name === callee && user.online);
    const deadline = performance.now() + 30_000;
    while (!(await knowsCallee())) {
      if (performance.now() > deadline) t.fail(`the first unit never learnt the user ${callee} of the last unit`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const initiated = await site.api(first, 'POST', '/api/signal/initiate', { from: caller, to: callee });
    t.is(initiated.body.call?.phase, 'ringing', JSON.stringify(initiated.body));
    const incoming = await site.api(last, 'GET', `/api/signal/incoming?user=${encodeURIComponent(callee)}`);
    t.is(incoming.body.calls[0]?.id, initiated.body.call.id, 'the call rings at the other end of the site');
    t.is((await site.api(first, 'POST', '/api/signal/end', { callId: initiated.body.call.id })).status, 200);

    // Idle figures once the site has settled.
    const idle = await site.measure(WINDOW_MS);
    t.log(figuresLine(`idle, ${idle.units.length} units`, idle));

    const join = await site.join();
    t.log(`a new unit (${join.unit.name}) was seen by all ${join.seenByAllAfterReadyMs} ms after it was ready (${join.seenByAllAfterSpawnMs} ms after its process started; slowest: ${join.slowestViewer})`);

    const count = Math.min(20, Math.floor(site.running().length / 2));
    const victims = site.running().slice(1, 1 + count);
    const gone = await site.vanish(victims, 'unplug');
    t.log(`${count} units unplugged at once: all the others showed them offline after ${gone.allNoticedAfterMs} ms`);
    const afterVanish = await site.measure(WINDOW_MS);
    t.log(figuresLine(`with ${count} gone, ${afterVanish.units.length} units`, afterVanish));
    await site.plug(victims);
    await site.untilAllSeeAll(Math.max(120_000, size * 3000));
    t.log(`plugged back in: all see all again`);

    const misses = [
      idle.txPerSecond.max > TARGETS.packetsPerSecond && `idle units send up to ${idle.txPerSecond.max.toFixed(1)} packets/s (target ${TARGETS.packetsPerSecond})`,
      idle.rxPerSecond.max > TARGETS.packetsPerSecond && `idle units receive up to ${idle.rxPerSecond.max.toFixed(1)} packets/s (target ${TARGETS.packetsPerSecond})`,
      join.seenByAllAfterReadyMs > TARGETS.joinSeenByAllMs && `a new unit was seen by all after ${join.seenByAllAfterReadyMs} ms (target ${TARGETS.joinSeenByAllMs})`,
      gone.allNoticedAfterMs > TARGETS.unpluggedNoticedMs && `unplugged units were noticed after ${gone.allNoticedAfterMs} ms (target ${TARGETS.unpluggedNoticedMs})`,
    ].filter((miss): miss is string => typeof miss === 'string');
    if (ASSERT_TARGETS) t.deepEqual(misses, [], `the issue's targets at ${size} units`);
    else if (misses.length > 0) t.log(`issue targets missed at ${size} units (not asserted): ${misses.join('; ')}`);
    records.push({ size, allSeeAllMs, idle, join: { ...join, unit: join.unit.name }, vanished: gone, afterVanish, misses });
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
  t.log(`whole run ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
});
