/**
 * What a load run's figures say: per-unit resource growth between the start and the end of the
 * run (for the leak checks), CPU share over time, and the markdown tables the soak prints.
 */
import type { CallRecord, LoadReport, ResourceSample } from './load-run.js';
import type { UnitFigures } from './process-sampler.js';

export interface UnitGrowth {
  unit: string;
  /** Lowest/highest of the first quarter of round-end samples (after the warm-up rounds) and of the last quarter. */
  fdsEarlyMax: number;
  fdsLateMin: number;
  /** Most sockets at any idle sample before the late quarter (keep-alive connections come and go). */
  socketsEarlyMax: number;
  socketsLateMin: number;
  /** File descriptors that are not sockets (pipes, FIFOs, files, timers): fixed for a unit, whatever the load. */
  otherFdsEarlyMax: number;
  otherFdsLateMin: number;
  rssEarlyMiB: number;
  rssLateMiB: number;
  /** Audio host processes at the first and the last sample (they must be the same ones). */
  childPidsEarly: number[];
  childPidsLate: number[];
  /** The command lines of the children of the first sample (an audio host, or what else). */
  childCommandsEarly: string[];
}

const MiB = 1024;
const MIN_CPU_INTERVAL_S = 5;

/**
 * Growth per unit, comparing the first and the last quarter of the idle (round-end) samples.
 * The first `warmUpRounds` are left out: the first calls load the codec, fill pools and caches.
 * Comparing the least of the late samples with the most of the early ones leaves out the
 * moment-to-moment swing of keep-alive connections, and still shows anything that grows with
 * the number of calls.
 */
export function unitGrowth(report: LoadReport, warmUpRounds: number): UnitGrowth[] {
  const idle = report.roundEndSamples.filter((sample) => sample.round >= warmUpRounds);
  const quarter = Math.max(1, Math.floor(idle.length / 4));
  const early = idle.slice(0, quarter);
  const late = idle.slice(-quarter);
  // Sockets: the most at any idle moment before the late quarter, warm-up included. Keep-alive
  // connections to the 19 peers open and close with polls and timeouts (on a busy machine the
  // count swings by 20 and more), so one early sample is not the unit's normal high.
  const beforeLate = report.roundEndSamples.slice(0, report.roundEndSamples.length - late.length);
  const figures = (samples: ResourceSample[], index: number) => samples.map((sample) => sample.units[index]).filter((unit): unit is UnitFigures => unit !== undefined);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  return report.unitNames.map((unit, index) => {
    const before = figures(early, index);
    const after = figures(late, index);
    return {
      unit,
      fdsEarlyMax: Math.max(...before.map((figure) => figure.totalFds)),
      fdsLateMin: Math.min(...after.map((figure) => figure.totalFds)),
      socketsEarlyMax: Math.max(...figures(beforeLate, index).map((figure) => figure.totalSockets)),
      otherFdsEarlyMax: Math.max(...before.map((figure) => figure.totalFds - figure.totalSockets)),
      otherFdsLateMin: Math.min(...after.map((figure) => figure.totalFds - figure.totalSockets)),
      socketsLateMin: Math.min(...after.map((figure) => figure.totalSockets)),
      rssEarlyMiB: median(before.map((figure) => figure.totalRssKiB)) / MiB,
      rssLateMiB: median(after.map((figure) => figure.totalRssKiB)) / MiB,
      childPidsEarly: (before[0]?.children ?? []).map((child) => child.pid).sort(),
      childPidsLate: (after.at(-1)?.children ?? []).map((child) => child.pid).sort(),
      childCommandsEarly: (before[0]?.children ?? []).map((child) => `${child.pid}: ${child.command}`),
    };
  });
}

/** CPU share of one core (percent) of each unit (with its audio hosts) between consecutive timed samples. */
export function cpuSeries(report: LoadReport): { t: number; percent: (number | undefined)[] }[] {
  const series: { t: number; percent: (number | undefined)[] }[] = [];
  // CPU times tick in 10 ms steps: an interval of a few seconds (the sample taken as the run ends)
  // would show that granularity, so it is folded into the one before.
  const samples = report.timedSamples.filter((sample, index, all) => index === 0 || index === all.length - 1 || all[index + 1].t - sample.t >= MIN_CPU_INTERVAL_S);
  for (let i = 1; i < samples.length; i += 1) {
    const previous = samples[i - 1];
    const current = samples[i];
    series.push({
      t: current.t,
      percent: current.units.map((unit, index) => {
        const before = previous.units[index];
        if (!unit || !before || unit.at <= before.at) return undefined;
        return (100 * (unit.totalCpuSeconds - before.totalCpuSeconds)) / ((unit.at - before.at) / 1000);
      }),
    });
  }
  return series;
}

/** At most `count` items, evenly spread, always including the last. */
function spread<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  const picked: T[] = [];
  for (let i = 0; i < count; i += 1) picked.push(items[Math.round(((items.length - 1) * i) / (count - 1))]);
  return picked;
}

const fixed = (value: number | undefined, digits = 1) => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));

/** Markdown: summary, per-unit CPU % and RSS over time, per-unit fds/sockets at the start and the end. */
export function formatReport(report: LoadReport, warmUpRounds: number, columns = 8): string {
  const okCalls = report.calls.filter((call) => call.ok);
  const failures = report.calls.filter((call) => !call.ok);
  const shares = okCalls.flatMap((call) => call.partnerToneSeconds).sort((a, b) => a - b);
  const ownShares = okCalls.flatMap((call) => call.ownToneSeconds);
  const verifyMs = okCalls.map((call) => call.audioVerifiedAfterMs).sort((a, b) => a - b);
  const lines: string[] = [];
  lines.push(
    `Started ${report.startedAt}; ${report.unitNames.length} units; site ready after ${report.setupSeconds.toFixed(0)} s; ` +
      `${report.callsPerRound} calls at a time; discovery poll (of unprobed addresses) ${report.discoveryPollMs === null ? 'as shipped' : `every ${report.discoveryPollMs / 1000} s`}; run ${(report.runSeconds / 60).toFixed(1)} min; ` +
      `the machine busy ${report.machineBusyPercent.toFixed(0)}% of one core of ${report.cores * 100}%, ${report.othersBusyPercent.toFixed(0)}% of it other work.`,
  );
  lines.push('');
  lines.push('| rounds | calls | completed with audio verified both ways | failed | stuck calls | partner tone heard (min / median, 1 s needed) | own tone heard (max) | initiate to audio verified (median / max) | sound-card clock stall (max) |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  lines.push(
    `| ${report.rounds} | ${report.calls.length} | ${okCalls.length} | ${failures.length} (${failures.filter((call) => call.excused).length} excused) | ${report.stuckCalls.length} | ${fixed(shares[0], 2)} / ${fixed(shares[Math.floor(shares.length / 2)], 2)} s | ${fixed(Math.max(0, ...ownShares), 2)} s | ${fixed(verifyMs[Math.floor(verifyMs.length / 2)], 0)} / ${fixed(verifyMs.at(-1), 0)} ms | ${fixed(report.maxClockGapMs, 0)} ms |`,
  );
  const slowest = okCalls.reduce<CallRecord | undefined>((worst, call) => (!worst || call.audioVerifiedAfterMs > worst.audioVerifiedAfterMs ? call : worst), undefined);
  if (slowest) lines.push(`- slowest to verify: round ${slowest.round} ${slowest.caller} -> ${slowest.callee}, ${fixed(slowest.audioVerifiedAfterMs, 0)} ms; windows without the partner's tone (caller, callee): ${JSON.stringify(slowest.otherWindows)}`);
  for (const failure of failures.slice(0, 10)) lines.push(`- failed: ${failure.failure}${failure.excused ? ` (excused: ${failure.excused})` : ''}`);
  for (const stuck of report.stuckCalls.slice(0, 10)) lines.push(`- stuck: ${stuck}`);

  const cpu = spread(cpuSeries(report), columns);
  const when = (seconds: number) => (report.runSeconds < 180 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(1)} min`);
  lines.push('');
  lines.push('CPU, % of one core, unit process (with audio hosts, if its backend has them): idle site before the first call, then the average over each sampling interval ending at the time shown, and the mean over the run:');
  lines.push('');
  lines.push(`| unit | idle | ${cpu.map((point) => when(point.t)).join(' | ')} | mean |`);
  lines.push(`|---|---|${cpu.map(() => '---|').join('')}---|`);
  const allCpu = cpuSeries(report);
  report.unitNames.forEach((name, index) => {
    const values = allCpu.map((point) => point.percent[index]).filter((value): value is number => value !== undefined);
    const mean = values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
    lines.push(`| ${name} | ${fixed(report.idleCpuPercent[index])} | ${cpu.map((point) => fixed(point.percent[index])).join(' | ')} | ${fixed(mean)} |`);
  });
  const totals = cpu.map((point) => point.percent.reduce<number>((sum, value) => sum + (value ?? 0), 0));
  const idleTotal = report.idleCpuPercent.reduce((sum, value) => sum + value, 0);
  lines.push(`| all units | ${fixed(idleTotal, 0)} | ${totals.map((value) => fixed(value, 0)).join(' | ')} | |`);

  const memory = spread(report.timedSamples, columns + 1);
  lines.push('');
  lines.push('RSS, MiB, unit process (with audio hosts, if its backend has them):');
  lines.push('');
  lines.push(`| unit | ${memory.map((sample) => when(sample.t)).join(' | ')} |`);
  lines.push(`|---|${memory.map(() => '---|').join('')}`);
  report.unitNames.forEach((name, index) => {
    lines.push(`| ${name} | ${memory.map((sample) => fixed(sample.units[index] && sample.units[index]!.totalRssKiB / MiB, 0)).join(' | ')} |`);
  });

  const growth = unitGrowth(report, warmUpRounds);
  lines.push('');
  lines.push(`Idle between rounds (after ${warmUpRounds} warm-up rounds), first quarter vs last quarter of the run: open fds (max early -> min late), of them not sockets (same), sockets (max of every idle sample before the last quarter -> min late), RSS (medians):`);
  lines.push('');
  lines.push('| unit | fds | not sockets | sockets | RSS MiB | same child processes |');
  lines.push('|---|---|---|---|---|---|');
  for (const unit of growth) {
    const sameHosts = JSON.stringify(unit.childPidsEarly) === JSON.stringify(unit.childPidsLate);
    lines.push(
      `| ${unit.unit} | ${unit.fdsEarlyMax} -> ${unit.fdsLateMin} | ${unit.otherFdsEarlyMax} -> ${unit.otherFdsLateMin} | ${unit.socketsEarlyMax} -> ${unit.socketsLateMin} | ${fixed(unit.rssEarlyMiB)} -> ${fixed(unit.rssLateMiB)} (${unit.rssLateMiB >= unit.rssEarlyMiB ? '+' : ''}${fixed(unit.rssLateMiB - unit.rssEarlyMiB)}) | ${sameHosts ? 'yes' : 'no'} |`,
    );
  }
  return lines.join('\n');
}
