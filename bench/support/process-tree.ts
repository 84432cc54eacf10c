/**
 * CPU time and peak memory of a process and all its descendants, from /proc: what a program
 * costs, helpers included.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { sampleProcess } from '../../test/load/process-sampler.js';

export function descendants(pid: number): number[] {
  const found: number[] = [];
  const visit = (parent: number) => {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      return;
    }
    for (const task of tasks) {
      let children: string[] = [];
      try {
        children = readFileSync(`/proc/${parent}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      } catch {
        continue;
      }
      for (const child of children) {
        found.push(Number(child));
        visit(Number(child));
      }
    }
  };
  visit(pid);
  return found;
}

export interface TreeFigures {
  cpuSeconds: number;
  /** Sum of each process's peak resident set (VmHWM), MiB. */
  peakRssMiB: number;
  /** Sum of the current resident sets, MiB. */
  rssMiB: number;
  processes: number;
}

export function sampleTree(pids: readonly number[]): TreeFigures {
  const all = new Set<number>();
  for (const pid of pids) {
    all.add(pid);
    for (const child of descendants(pid)) all.add(child);
  }
  let cpuSeconds = 0;
  let peakKiB = 0;
  let rssKiB = 0;
  let processes = 0;
  for (const pid of all) {
    const figures = sampleProcess(pid);
    if (!figures) continue;
    processes += 1;
    cpuSeconds += figures.cpuSeconds;
    rssKiB += figures.rssKiB;
    try {
      peakKiB += Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return { cpuSeconds, peakRssMiB: peakKiB / 1024, rssMiB: rssKiB / 1024, processes };
}
