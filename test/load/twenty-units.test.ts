import test from 'ava';
import { runLoad, TWO_CORE_SITE } from './load-run.js';
import { formatReport, unitGrowth } from './load-report.js';

// Twenty real unit processes (each on the ALSA engine, with its own virtual microphone and
// speaker) on this machine: they find each other through static peer lists,
// register a user each, and call each other in rotating pairs, five calls at a time (why not ten:
// TWO_CORE_SITE in load-run.ts), for about a minute. Every call's audio is checked both ways;
// afterwards no unit may hold a live call, and file descriptors, sockets and memory must not grow
// with the number of calls. `npm run soak` runs the same for ten minutes and more (bench/soak.ts).

const UNITS = TWO_CORE_SITE.units;
const RUN_MS = 60_000;
/** At least this many rounds, however long they take on a busy machine... */
const MIN_ROUNDS = 8;
/** ...and every unit in calls that went through with at least this many different partners. */
const MIN_OK_PARTNERS = 3;
/** Rounds stop being started after this, whatever the above (a machine that never delivered). */
const MAX_RUN_MS = 20 * 60_000;
/** The first rounds load the codecs and fill pools and caches; growth is measured after them. */
const WARM_UP_ROUNDS = 2;
/**
 * A unit on the ALSA engine keeps about 36 fds (measured 2026-12-06). 27 are not sockets (the sound
 * card's FIFOs, files, timers, the engine's eventfd): that number is fixed, busy machine or not, so
 * any growth between the first and the last quarter of the run is a leak. The others are sockets:
 * keep-alive connections to and from its 19 peers, plus the test's own; they open and close with
 * polls, calls and timeouts, by a few on an idle machine and by 20 and more on a busy one. So the
 * fewest sockets of the last quarter's idle samples must not exceed the most of every idle sample
 * before, by more than a few: a leak of a socket per call still shows.
 */
const OTHER_FD_SLACK = 2;
const SOCKET_SLACK = 4;
/**
 * RSS of a unit is about 130-190 MiB here (one Node process with tsx and the engine; measured
 * 2026-12-06); the garbage collector moves the median of a quarter of the run by up to ±50 MiB
 * (measured, mostly downwards after the first calls), so a minute can only catch a gross leak.
 * Slow growth is the soak's to show: docs/PERFORMANCE.md.
 */
const RSS_GROWTH_LIMIT_MIB = 40;

test('20 units register, discover each other and call in pairs: audio verified, no stuck call, no leak', async (t) => {
  // About 4 minutes on an idle 2-core machine; a busy one (other builds and tests beside this) is
  // slower, never wrong: the run counts rounds, and each step's deadline is a starved machine's.
  t.timeout(35 * 60_000, 'twenty units start a few at a time, then at least a minute and 8 rounds of calls');
  const report = await runLoad({
    units: UNITS,
    callsPerRound: TWO_CORE_SITE.callsPerRound,
    discoveryPollMs: TWO_CORE_SITE.discoveryPollMs,
    durationMs: RUN_MS,
    minRounds: MIN_ROUNDS,
    minOkCallsPerUnit: MIN_OK_PARTNERS,
    maxRunMs: MAX_RUN_MS,
    idleSeconds: 5,
    sampleEveryMs: 10_000,
    host: t,
    log: (line) => t.log(line),
  });
  t.log(`\n${formatReport(report, WARM_UP_ROUNDS)}`);

  const failed = report.calls.filter((call) => !call.ok && !call.excused);
  const excused = report.calls.filter((call) => !call.ok && call.excused);
  if (excused.length > 0) t.log(`${excused.length} calls failed while other work kept the machine busy (excused, not counted): ${excused.map((call) => `${call.failure} (${call.excused})`).join('; ')}`);
  t.true(report.rounds >= MIN_ROUNDS, `${report.rounds} rounds`);
  t.deepEqual(
    failed.map((call) => call.failure),
    [],
    'every call rang, was answered, carried each partner\'s tone both ways and ended hung-up on both sides',
  );
  t.deepEqual(report.stuckCalls, [], 'no unit holds a live call after its round');
  // Rotating pairs: every unit placed or took several calls that went through, each with a different partner.
  const partners = new Map<string, string[]>();
  for (const call of report.calls.filter((candidate) => candidate.ok)) {
    partners.set(call.caller, [...(partners.get(call.caller) ?? []), call.callee]);
    partners.set(call.callee, [...(partners.get(call.callee) ?? []), call.caller]);
  }
  t.is(partners.size, UNITS, 'every unit took part');
  for (const [unit, list] of partners) {
    t.true(new Set(list).size >= MIN_OK_PARTNERS, `${unit} talked to ${list.join(', ')}`);
  }

  for (const unit of unitGrowth(report, WARM_UP_ROUNDS)) {
    t.true(unit.otherFdsLateMin <= unit.otherFdsEarlyMax + OTHER_FD_SLACK, `${unit.unit}: open fds other than sockets ${unit.otherFdsEarlyMax} -> ${unit.otherFdsLateMin}`);
    t.true(unit.socketsLateMin <= unit.socketsEarlyMax + SOCKET_SLACK, `${unit.unit}: sockets ${unit.socketsEarlyMax} -> ${unit.socketsLateMin}`);
    t.true(unit.rssLateMiB - unit.rssEarlyMiB < RSS_GROWTH_LIMIT_MIB, `${unit.unit}: RSS ${unit.rssEarlyMiB.toFixed(1)} -> ${unit.rssLateMiB.toFixed(1)} MiB`);
    // The engine runs in the unit's process: an audio host appearing means it fell back to naudiodon.
    t.deepEqual(unit.childPidsLate, unit.childPidsEarly, `${unit.unit}: the same child processes throughout`);
    t.is(unit.childPidsEarly.length, 0, `${unit.unit}: sound through the ALSA engine, no audio host processes (children: ${unit.childCommandsEarly.join('; ')})`);
  }
});
