import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Systeminformation } from 'systeminformation';
import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from '../logging/logger.js';

/** Host figures for /api/status, sampled on an interval so a request never does I/O of its own. */
export interface SystemFigures {
  /** CPU busy share over the last sampling interval, 0..100 (null until two samples exist). */
  cpuLoadPercent: number | null;
  loadAverage: number[];
  /** SoC temperature in °C, null where the machine exposes none. */
  temperatureC: number | null;
  memory: { totalBytes: number; availableBytes: number; usedPercent: number } | null;
  /**
   * How late the event loop ran timers over the last interval (p99 and worst, ms): audio shares
   * this loop, so a stall here is heard as a jitter spike at the peer.
   */
  eventLoopDelayMs: { p99: number; max: number } | null;
}

export const THERMAL_ZONE_PATH = '/sys/class/thermal/thermal_zone0/temp';

/** Reads the SoC temperature the way the Pi kernel exposes it (millidegrees), without spawning anything. */
export async function readThermalZone(path = THERMAL_ZONE_PATH): Promise<number | null> {
  try {
    const milli = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isFinite(milli) ? Math.round(milli / 100) / 10 : null;
  } catch {
    return null;
  }
}

/**
 * systeminformation's memory module alone: the package's index loads all of its 700 KiB of modules
 * (CPU, disks, network, processes, ...), ~1.1 MiB of every unit's heap for this one figure.
 */
const systemMemory = createRequire(import.meta.url)('systeminformation/lib/memory.js') as { mem: () => Promise<Systeminformation.MemData> };

async function readMemory(): Promise<SystemFigures['memory']> {
  // mem() reads /proc/meminfo on Linux (no child process) and reports "available" as the kernel does.
  const mem = await systemMemory.mem();
  if (!mem.total) return null;
  return { totalBytes: mem.total, availableBytes: mem.available, usedPercent: Math.round(((mem.total - mem.available) / mem.total) * 1000) / 10 };
}

interface CpuTotals {
  idle: number;
  total: number;
}

function cpuTotals(cpus: os.CpuInfo[]): CpuTotals {
  let idle = 0;
  let total = 0;
  for (const cpu of cpus) {
    const { user, nice, sys, idle: cpuIdle, irq } = cpu.times;
    idle += cpuIdle;
    total += user + nice + sys + cpuIdle + irq;
  }
  return { idle, total };
}

export interface SystemSamplerOptions {
  clock: Clock;
  intervalMs: number;
  logger?: Logger;
  readTemperature?: () => Promise<number | null>;
  readMemory?: () => Promise<SystemFigures['memory']>;
  /**
   * CPU times source. Defaults to os.cpus(): systeminformation's currentLoad() runs a blocking
   * `cat /proc/stat` child process on Linux, which would stall the event loop the audio shares.
   */
  readCpus?: () => os.CpuInfo[];
}

const LOOP_DELAY_RESOLUTION_MS = 100;
/** The monitor records the time between its wake-ups, resolution included: the delay is what is over it. */
const lateByMs = (nanoseconds: number) => Math.max(0, Math.round((nanoseconds / 1e6 - LOOP_DELAY_RESOLUTION_MS) * 100) / 100);

/** Samples CPU, memory and temperature every `intervalMs` and keeps the latest figures. */
export class SystemSampler {
  private figures: SystemFigures = { cpuLoadPercent: null, loadAverage: os.loadavg(), temperatureC: null, memory: null, eventLoopDelayMs: null };
  /**
   * The delay monitor wakes the event loop every `resolution` ms: at 10 ms that alone cost an idle
   * unit 0.75% of a core here (measured on a bare Node process: 0.75% at 10 ms, 0.05% at 200 ms),
   * most of the idle budget. At 100 ms a stall of 100 ms or more is always seen and measured;
   * shorter ones in proportion to their length.
   */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  private previousCpu: CpuTotals | null = null;
  private timer: TimerHandle | null = null;
  private sampling: Promise<void> | null = null;

  constructor(private readonly options: SystemSamplerOptions) {}

  start(): Promise<void> {
    this.loopDelay.enable();
    if (!this.timer) this.timer = this.options.clock.setInterval(() => void this.sample(), this.options.intervalMs);
    return this.sample();
  }

  stop(): void {
    this.loopDelay.disable();
    if (this.timer) this.options.clock.clearInterval(this.timer);
    this.timer = null;
  }

  latest(): SystemFigures {
    return this.figures;
  }

  sample(): Promise<void> {
    this.sampling ??= this.takeSample().finally(() => {
      this.sampling = null;
    });
    return this.sampling;
  }

  private async takeSample(): Promise<void> {
    const cpu = cpuTotals((this.options.readCpus ?? os.cpus)());
    let cpuLoadPercent = this.figures.cpuLoadPercent;
    if (this.previousCpu && cpu.total > this.previousCpu.total) {
      const busy = 1 - (cpu.idle - this.previousCpu.idle) / (cpu.total - this.previousCpu.total);
      cpuLoadPercent = Math.round(Math.min(1, Math.max(0, busy)) * 1000) / 10;
    }
    this.previousCpu = cpu;
    const [temperatureC, memory] = await Promise.all([
      (this.options.readTemperature ?? readThermalZone)().catch(() => null),
      (this.options.readMemory ?? readMemory)().catch((error) => {
        this.options.logger?.warn({ err: error }, 'could not read memory figures');
        return null;
      }),
    ]);
    const eventLoopDelayMs =
      this.loopDelay.count > 0
        ? { p99: lateByMs(this.loopDelay.percentile(99)), max: lateByMs(this.loopDelay.max) }
        : this.figures.eventLoopDelayMs;
    this.loopDelay.reset();
    this.figures = { cpuLoadPercent, loadAverage: os.loadavg().map((value) => Math.round(value * 100) / 100), temperatureC, memory, eventLoopDelayMs };
  }
}
