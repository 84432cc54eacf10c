import { readFile } from 'node:fs/promises';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Figures for the flood tests: the heap of this process after a full garbage collection (so
 * growth means retained objects, not garbage not yet collected), the resident set of another
 * process, and the kernel's count of datagrams dropped at a UDP socket.
 */

let collect: (() => void) | undefined;

/** A full, synchronous garbage collection, without starting node with --expose-gc. */
export function collectGarbage(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  collect();
}

/**
 * Memory JavaScript keeps after a full collection, in bytes: the heap plus memory held outside
 * it by JavaScript objects (Buffers, such as received datagrams, live there).
 */
export function retainedHeapBytes(): number {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/**
 * Datagrams the kernel dropped at the UDP socket bound to `port` (its receive buffer was full),
 * from /proc/net/udp and /proc/net/udp6. A flood test subtracts them to know what the unit saw.
 */
export async function udpReceiveDrops(port: number): Promise<number> {
  let drops = 0;
  let found = false;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 13) continue;
      const localPort = Number.parseInt(fields[1].split(':')[1], 16);
      if (localPort !== port) continue;
      found = true;
      drops += Number(fields[fields.length - 1]);
    }
  }
  if (!found) throw new Error(`no UDP socket on port ${port} in /proc/net/udp`);
  return drops;
}

/** A process's resident set (VmRSS of /proc/<pid>/status), in bytes. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export const MIB = 1024 * 1024;
