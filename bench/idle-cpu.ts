import { pino } from 'pino';
import { NaudiodonBackend, type NaudiodonStream } from '../src/audio/naudiodon-backend.js';
import { sampleProcess } from '../test/load/process-sampler.js';
import { createVirtualAlsa } from '../test/support/virtual-alsa.js';

/**
 * What a unit's sound card costs between calls. A unit keeps its devices open for its whole life
 * (reopening PortAudio streams leaks in naudiodon), so an idle unit still runs both audio hosts.
 * Measured on real audio hosts over virtual ALSA devices, the same streams in the same run:
 *   - relaying (the design before 2026-11-25): every captured frame goes to the service, which
 *     drops it, and every frame the speaker plays is asked of the service, which answers silence;
 *   - not relaying (shipped): the hosts drop and play silence on their own between calls.
 * Figures: the two audio hosts' CPU from /proc, and how often the service is woken for audio.
 * The service's own CPU per wakeup is not in the host figures; the wakeup rate stands for it.
 */
export interface IdleCpuResult {
  label: string;
  hostCpuPercent: number;
  serviceWakeupsPerSecond: number;
}

const FRAME_SAMPLES = 960;

export async function runIdleCpuBench(seconds = 20): Promise<IdleCpuResult[]> {
  const alsa = await createVirtualAlsa({ mics: ['bench_mic'], speakers: ['bench_spk'], defaultMic: null, defaultSpeaker: null });
  const backend = new NaudiodonBackend({ env: { ...process.env, ...alsa.env }, logger: pino({ level: 'silent' }) });
  let wakeups = 0;
  const silence = new Int16Array(FRAME_SAMPLES);
  try {
    const capture = await backend.openCapture({ device: 'bench_mic', frameSamples: FRAME_SAMPLES, onFrame: () => (wakeups += 1) });
    const playback = await backend.openPlayback({
      device: 'bench_spk',
      frameSamples: FRAME_SAMPLES,
      nextFrame: () => {
        wakeups += 1;
        return silence;
      },
    });
    const results: IdleCpuResult[] = [];
    for (const relaying of [true, false]) {
      capture.setRelaying(relaying);
      playback.setRelaying(relaying);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // settle into the mode
      results.push(await measure(relaying ? 'relaying (before)' : 'not relaying (shipped)', [capture, playback], seconds, () => wakeups));
    }
    return results;
  } finally {
    await backend.close();
    await alsa.dispose();
  }
}

async function measure(label: string, streams: NaudiodonStream[], seconds: number, wakeups: () => number): Promise<IdleCpuResult> {
  const hostCpu = () => streams.reduce((sum, stream) => sum + (sampleProcess(stream.hostPid ?? -1)?.cpuSeconds ?? 0), 0);
  const [cpuBefore, wakeupsBefore, started] = [hostCpu(), wakeups(), performance.now()];
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
  const elapsed = (performance.now() - started) / 1_000;
  return {
    label,
    hostCpuPercent: ((hostCpu() - cpuBefore) / elapsed) * 100,
    serviceWakeupsPerSecond: (wakeups() - wakeupsBefore) / elapsed,
  };
}
