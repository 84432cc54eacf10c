import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * What a site test measures per unit process, straight from /proc and cheaply (three small reads
 * per unit and sample; a window needs two samples): CPU time of the unit and of its children
 * (audio hosts, device retries), resident memory, and the packets its network namespace's
 * interface sent and received. Each unit has a namespace of its own, so /proc/<pid>/net/dev is
 * exactly that unit's traffic: its own requests and answers, and every multicast it hears.
 */

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface ProcSample {
  /** performance.now() when read. */
  at: number;
  /** utime + stime of the unit process, seconds. */
  cpuSeconds: number;
  /** Children's CPU: reaped ones (cutime + cstime) and live ones, seconds. */
  childCpuSeconds: number;
  rssKiB: number;
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
}

function statTimes(pid: number): { self: number; reapedChildren: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is index 0, utime 11, stime 12, cutime 13, cstime 14.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    self: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND,
    reapedChildren: (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND,
  };
}

function liveChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Packets and bytes of `iface` as the process's network namespace counts them. */
export function interfaceCounters(pid: number, iface: string): { rxPackets: number; txPackets: number; rxBytes: number; txBytes: number } {
  const text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  const line = text.split('\n').find((candidate) => candidate.trimStart().startsWith(`${iface}:`));
  if (!line) throw new Error(`no interface ${iface} in /proc/${pid}/net/dev`);
  const fields = line.slice(line.indexOf(':') + 1).trim().split(/\s+/).map(Number);
  return { rxBytes: fields[0], rxPackets: fields[1], txBytes: fields[8], txPackets: fields[9] };
}

/** One sample of a unit process, or undefined when it is gone. */
export function sampleUnitProcess(pid: number, iface = 'eth0'): ProcSample | undefined {
  try {
    const at = performance.now();
    const times = statTimes(pid);
    let live = 0;
    for (const child of liveChildren(pid)) {
      try {
        live += statTimes(child).self;
      } catch {
        // ended between the two reads
      }
    }
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { at, cpuSeconds: times.self, childCpuSeconds: times.reapedChildren + live, rssKiB, ...interfaceCounters(pid, iface) };
  } catch {
    return undefined;
  }
}

/** A unit's figures over a window between two samples. */
export interface UnitWindow {
  name: string;
  /** % of one core, the unit process alone. */
  cpuPercent: number;
  /** % of one core, its child processes. */
  childCpuPercent: number;
  rssMiB: number;
  txPerSecond: number;
  rxPerSecond: number;
  txBytesPerSecond: number;
  rxBytesPerSecond: number;
}

export function windowBetween(name: string, before: ProcSample, after: ProcSample): UnitWindow {
  const seconds = Math.max(0.001, (after.at - before.at) / 1000);
  return {
    name,
    cpuPercent: ((after.cpuSeconds - before.cpuSeconds) / seconds) * 100,
    childCpuPercent: (Math.max(0, after.childCpuSeconds - before.childCpuSeconds) / seconds) * 100,
    rssMiB: after.rssKiB / 1024,
    txPerSecond: (after.txPackets - before.txPackets) / seconds,
    rxPerSecond: (after.rxPackets - before.rxPackets) / seconds,
    txBytesPerSecond: (after.txBytes - before.txBytes) / seconds,
    rxBytesPerSecond: (after.rxBytes - before.rxBytes) / seconds,
  };
}

export interface Spread {
  mean: number;
  median: number;
  p95: number;
  max: number;
}

export function spread(values: number[]): Spread {
  if (values.length === 0) return { mean: NaN, median: NaN, p95: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return { mean: values.reduce((sum, value) => sum + value, 0) / values.length, median: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] };
}

/** The site's figures over one window: each unit's, and their spread. */
export interface SiteWindow {
  seconds: number;
  units: UnitWindow[];
  cpuPercent: Spread;
  childCpuPercent: Spread;
  rssMiB: Spread;
  txPerSecond: Spread;
  rxPerSecond: Spread;
  /** Sum over the units, % of one core. */
  totalCpuPercent: number;
}

export function summarise(seconds: number, units: UnitWindow[]): SiteWindow {
  const of = (pick: (unit: UnitWindow) => number) => spread(units.map(pick));
  return {
    seconds,
    units,
    cpuPercent: of((unit) => unit.cpuPercent),
    childCpuPercent: of((unit) => unit.childCpuPercent),
    rssMiB: of((unit) => unit.rssMiB),
    txPerSecond: of((unit) => unit.txPerSecond),
    rxPerSecond: of((unit) => unit.rxPerSecond),
    totalCpuPercent: units.reduce((sum, unit) => sum + unit.cpuPercent + unit.childCpuPercent, 0),
  };
}
