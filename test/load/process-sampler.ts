/**
 * Resource figures of a unit process and its children (the audio hosts), read from /proc:
 * resident memory, open file descriptors and how many of them are sockets, and CPU time.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface ProcessFigures {
  pid: number;
  rssKiB: number;
  fds: number;
  sockets: number;
  /** utime + stime, seconds. */
  cpuSeconds: number;
  /** Its command line (for a message about an unexpected process). */
  command: string;
}

/** A unit process plus its children, each measured, and the totals. */
export interface UnitFigures {
  /** performance.now() of the sample. */
  at: number;
  unit: ProcessFigures;
  children: ProcessFigures[];
  totalRssKiB: number;
  totalFds: number;
  totalSockets: number;
  totalCpuSeconds: number;
}

function childPids(pid: number): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const task of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) {
        if (child) pids.push(Number(child));
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return pids;
}

/** Figures of one process, or undefined if it is gone. */
export function sampleProcess(pid: number): ProcessFigures | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, i.e. 12 and 13 after the name (field 3 is index 0).
    const cpuSeconds = (Number(afterName[11]) + Number(afterName[12])) / CLOCK_TICKS_PER_SECOND;
    const fdNames = readdirSync(`/proc/${pid}/fd`);
    let sockets = 0;
    for (const fd of fdNames) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets += 1;
      } catch {
        // closed while we looked
      }
    }
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200);
    return { pid, rssKiB, fds: fdNames.length, sockets, cpuSeconds, command };
  } catch {
    return undefined;
  }
}

/** Figures of a unit process and every child it has now. */
export function sampleUnit(pid: number): UnitFigures | undefined {
  const unit = sampleProcess(pid);
  if (!unit) return undefined;
  const children = childPids(pid)
    .map((child) => sampleProcess(child))
    .filter((figures): figures is ProcessFigures => figures !== undefined);
  const all = [unit, ...children];
  return {
    at: performance.now(),
    unit,
    children,
    totalRssKiB: all.reduce((sum, figures) => sum + figures.rssKiB, 0),
    totalFds: all.reduce((sum, figures) => sum + figures.fds, 0),
    totalSockets: all.reduce((sum, figures) => sum + figures.sockets, 0),
    totalCpuSeconds: all.reduce((sum, figures) => sum + figures.cpuSeconds, 0),
  };
}
