import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad, TWO_CORE_SITE } from '../test/load/load-run.js';
import { formatReport } from '../test/load/load-report.js';

/**
 * `npm run soak`: the 20-unit load run (test/load/load-run.ts) for 10 minutes or more. Prints a
 * markdown report (calls, failures, CPU and RSS per unit over time, fds and sockets at the start
 * and the end) for docs/PERFORMANCE.md, writes it and the raw samples (JSON) to bench/results/,
 * and exits non-zero if any call failed or got stuck.
 *
 *   npm run soak                       # 20 units, 5 calls at a time, discovery poll 5 s, 10 minutes
 *   npm run soak -- --minutes 30
 *   npm run soak -- --calls 10 --poll-ms 0   # every unit in a call, shipped 1 s poll (needs more than 2 cores)
 *   node --import=tsx bench/soak.ts --units 4 --minutes 0.5   # a quick look
 */
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    units: { type: 'string', default: String(TWO_CORE_SITE.units) },
    'sample-seconds': { type: 'string', default: '15' },
    calls: { type: 'string' },
    'poll-ms': { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const unitCount = Number(values.units);
const sampleSeconds = Number(values['sample-seconds']);
// --poll-ms 0: the shipped discovery poll.
const discoveryPollMs = values['poll-ms'] === undefined ? TWO_CORE_SITE.discoveryPollMs : Number(values['poll-ms']) || undefined;
const callsPerRound = values.calls === undefined ? Math.min(TWO_CORE_SITE.callsPerRound, unitCount / 2) : Number(values.calls);
if (!(minutes > 0) || !Number.isInteger(unitCount) || unitCount < 2 || unitCount % 2 !== 0 || !(sampleSeconds > 0) || !(callsPerRound >= 1)) {
  console.error('usage: soak [--minutes M (> 0)] [--units N (even, >= 2)] [--calls C (at a time)] [--poll-ms P (discovery poll; 0: shipped)] [--sample-seconds S]');
  process.exit(2);
}

const cleanups: (() => Promise<void> | void)[] = [];
const host = { teardown: (fn: () => Promise<void> | void) => void cleanups.push(fn) };
const cleanUp = async () => {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      console.error(`cleanup: ${(error as Error).message}`);
    }
  }
};
process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));

const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.arch()}`;
const loadBefore = os.loadavg();
let exitCode = 0;
try {
  const report = await runLoad({
    units: unitCount,
    durationMs: minutes * 60_000,
    host,
    sampleEveryMs: sampleSeconds * 1000,
    callsPerRound,
    discoveryPollMs,
    log: (line) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  const loadAfter = os.loadavg();
  const markdown = [
    `# Soak: ${unitCount} units, ${minutes} min`,
    '',
    `${machine}. Load average before ${loadBefore.map((value) => value.toFixed(2)).join(' ')}, at the end ${loadAfter.map((value) => value.toFixed(2)).join(' ')}.`,
    '',
    formatReport(report, 2, 10),
    '',
  ].join('\n');
  console.log(markdown);
  const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  writeFileSync(path.join(resultsDir, `soak-${stamp}.md`), markdown);
  writeFileSync(path.join(resultsDir, `soak-${stamp}.json`), JSON.stringify({ machine, loadBefore, loadAfter, report }, null, 1));
  console.error(`written to ${resultsDir}/soak-${stamp}.{md,json}`);
  if (report.calls.some((call) => !call.ok) || report.stuckCalls.length > 0) exitCode = 1;
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await cleanUp();
}
process.exit(exitCode);
