import test from 'ava';
import { runLoad, TWO_CORE_SITE } from './load-run.js';
import { formatReport, unitGrowth } from './load-report.js';

// Twenty real unit processes (each with its two audio host processes and its own virtual
// microphone and speaker) on this machine: they find each other through static peer lists,
// register a user each, and call each other in rotating pairs, five calls at a time (why not ten:
// TWO_CORE_SITE in load-run.ts), for about a minute. Every call's audio is checked both ways;
// afterwards no unit may hold a live call, and file descriptors, sockets and memory must not grow
// with the number of calls. `npm run soak` runs the same for ten minutes and more (bench/soak.ts).

const UNITS = TWO_CORE_SITE.units;
const RUN_MS = 60_000;
/** The first rounds load the codecs and fill pools and caches; growth is measured after them. */
const WARM_UP_ROUNDS = 2;
/**
 * Each unit with its audio hosts keeps about 137 fds, of which about 66 are sockets: keep-alive
 * connections to and from its 19 peers, plus the test's own. A poll that overlaps a call's
 * signaling to the same peer opens a second connection for a moment, so idle counts swing by a
 * few (measured: 2-4). Each unit is in about 6 calls between the first and the last quarter of a
 * one-minute run, so a leak of one fd per call shows above this slack; the check compares the
 * fewest of the last quarter's idle samples with the most of the first quarter's.
 */
const FD_SLACK = 4;
/**
 * RSS of a unit with its audio hosts is about 280-310 MiB here (three Node processes with tsx);
 * the garbage collector moves the median of a quarter of the run by up to ±36 MiB (measured), so a
 * minute can only catch a gross leak. Slow growth (measured +1-8 MiB per unit over ~140 calls in
 * the 10-minute soak) is the soak's to show: docs/PERFORMANCE.md.
 */
const RSS_GROWTH_LIMIT_MIB = 40;

test('20 units register, discover each other and call in pairs: audio verified, no stuck call, no leak', async (t) => {
  t.timeout(8 * 60_000, 'twenty units start a few at a time, then a minute of calls');
  const report = await runLoad({
    units: UNITS,
    callsPerRound: TWO_CORE_SITE.callsPerRound,
    discoveryPollMs: TWO_CORE_SITE.discoveryPollMs,
    durationMs: RUN_MS,
    idleSeconds: 5,
    sampleEveryMs: 10_000,
    host: t,
    log: (line) => t.log(line),
  });
  t.log(`\n${formatReport(report, WARM_UP_ROUNDS)}`);

  const failed = report.calls.filter((call) => !call.ok);
  t.true(report.rounds >= 8, `${report.rounds} rounds in a minute`);
  t.deepEqual(
    failed.map((call) => call.failure),
    [],
    'every call rang, was answered, carried each partner\'s tone both ways and ended hung-up on both sides',
  );
  t.deepEqual(report.stuckCalls, [], 'no unit holds a live call after its round');
  // Rotating pairs: every unit placed or took several calls, each with a different partner.
  const partners = new Map<string, string[]>();
  for (const call of report.calls) {
    partners.set(call.caller, [...(partners.get(call.caller) ?? []), call.callee]);
    partners.set(call.callee, [...(partners.get(call.callee) ?? []), call.caller]);
  }
  t.is(partners.size, UNITS, 'every unit took part');
  for (const [unit, list] of partners) {
    t.true(list.length >= 3 && new Set(list).size === Math.min(list.length, UNITS - 1), `${unit} talked to ${list.join(', ')}`);
  }

  for (const unit of unitGrowth(report, WARM_UP_ROUNDS)) {
    t.true(unit.fdsLateMin <= unit.fdsEarlyMax + FD_SLACK, `${unit.unit}: open fds ${unit.fdsEarlyMax} -> ${unit.fdsLateMin}`);
    t.true(unit.socketsLateMin <= unit.socketsEarlyMax + FD_SLACK, `${unit.unit}: sockets ${unit.socketsEarlyMax} -> ${unit.socketsLateMin}`);
    t.true(unit.rssLateMiB - unit.rssEarlyMiB < RSS_GROWTH_LIMIT_MIB, `${unit.unit}: RSS ${unit.rssEarlyMiB.toFixed(1)} -> ${unit.rssLateMiB.toFixed(1)} MiB`);
    t.deepEqual(unit.childPidsLate, unit.childPidsEarly, `${unit.unit}: the same two audio hosts throughout`);
    t.is(unit.childPidsEarly.length, 2, `${unit.unit}: a capture and a playback host`);
  }
});
