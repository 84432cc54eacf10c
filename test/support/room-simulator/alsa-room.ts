/**
 * The room simulator on the paced virtual sound cards: what a unit plays into its virtual
 * speaker comes back into its own virtual mic through an echo path, with the room's noise, in
 * real time, so that a real unit (or two, each in its own room) can be tested hands-free:
 *
 *     const alsa = await createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'] });
 *     const roomA = joinRoom(alsa, { speaker: 'spk_a', mic: 'mic_a', path: { delayMs: 10, rt60Ms: 300, couplingDb: -6, seed: 1 } });
 *     const roomB = joinRoom(alsa, { speaker: 'spk_b', mic: 'mic_b', path: { delayMs: 20, rt60Ms: 250, couplingDb: -3, seed: 2 } });
 *     await alsa.mic('mic_a').play(visitorSpeech);   // near-end speech: the harness's own queue
 *     // ... unit B's speaker plays A's visitor, and A's speaker plays B; each room feeds each mic.
 *     roomA.dispose(); roomB.dispose(); await alsa.dispose();
 *
 * The speaker side is read by the harness in ~5 ms steps; each read goes through the EchoPath
 * (256-sample blocks), and the echo waits in a queue until the mic's next 20 ms frame takes it.
 * The queue is primed with PRIME_MS before the mic takes from it, so the echo reaches the mic a
 * steady `harnessDelayMs` (measured: from the speaker FIFO read of a sample to the mic FIFO
 * write of its echo) later than the acoustic path says. When the echo a mic frame needs has not
 * been read yet (the unit stopped playing, or a loaded machine read the speaker late) the mic
 * gets silence in its place, and that much of the late echo is skipped when it comes, so the
 * delay stays where it was, as a sound card's clock would keep it; should a backlog still build
 * beyond MAX_BACKLOG_MS, the oldest echo is dropped.
 */
import { EchoPath, type EchoPathOptions } from './echo-path.js';
import { fanNoise } from './room.js';
import type { VirtualAlsa } from '../virtual-alsa.js';

const SAMPLE_RATE = 48_000;
const MIC_FRAME = 960;
/** Echo held back before the mic starts taking it: covers the jitter of 5 ms speaker reads against 20 ms mic writes. */
const PRIME_MS = 20;
/** More echo than this waiting means the mic is behind the speaker: the excess is dropped. */
const MAX_BACKLOG_MS = PRIME_MS + 30;
/** A speaker that delivered nothing for this long has stopped (not merely fallen behind). */
const SPEAKER_STOPPED_MS = 100;

export interface AlsaRoomOptions {
  /** The unit's virtual speaker and mic (PCM names of the harness). */
  speaker: string;
  mic: string;
  path: EchoPathOptions;
  /** Steady fan-like noise at the mic, RMS dBFS; none when absent. */
  noiseDbfs?: number;
}

export interface AlsaRoom {
  /**
   * Delay the harness adds to the acoustic path, ms: median over the last 50 mic frames of the
   * time from reading a speaker sample to writing its echo into the mic (undefined before any).
   */
  readonly harnessDelayMs: number | undefined;
  /** Spread of that delay over the last 50 frames (90th minus 10th percentile), ms. */
  readonly harnessDelaySpreadMs: number | undefined;
  /** Samples of echo the mic took; mic frames that found too little echo waiting; backlogs dropped. */
  readonly echoSamplesDelivered: number;
  readonly underruns: number;
  readonly slips: number;
  /** The acoustic path's delay changes (from the next speaker read on). */
  setDelayMs(delayMs: number): void;
  /** Disconnects the room from the devices. */
  dispose(): void;
}

export function joinRoom(alsa: VirtualAlsa, options: AlsaRoomOptions): AlsaRoom {
  const path = new EchoPath(options.path, 256);
  const queue: Float64Array[] = [];
  let queued = 0;
  let primed = false;
  let delivered = 0;
  let underruns = 0;
  let slips = 0;
  const prime = Math.round((PRIME_MS * SAMPLE_RATE) / 1000);
  const noise = options.noiseDbfs === undefined ? undefined : fanNoise(SAMPLE_RATE * 10, options.noiseDbfs, options.path.seed + 303);
  let noisePosition = 0;

  const speaker = alsa.speaker(options.speaker);
  const firstSpeakerSample = speaker.sampleCount;
  const recentDelays: number[] = [];
  let lastSpeakerSamplesAt = -Infinity;
  const stopListening = speaker.onSamples((samples) => {
    lastSpeakerSamplesAt = performance.now();
    const echo = path.push(samples);
    if (echo.length > 0) {
      queue.push(echo);
      queued += echo.length;
    }
  });

  const take = (count: number): Float64Array => {
    const out = new Float64Array(count);
    let filled = 0;
    while (filled < count && queue.length > 0) {
      const head = queue[0];
      const n = Math.min(count - filled, head.length);
      out.set(head.subarray(0, n), filled);
      filled += n;
      if (n === head.length) queue.shift();
      else queue[0] = head.subarray(n);
    }
    queued -= filled;
    return out;
  };

  const maxBacklog = Math.round((MAX_BACKLOG_MS * SAMPLE_RATE) / 1000) + MIC_FRAME;
  let owed = 0;
  alsa.mic(options.mic).setMixer((frame) => {
    if (queued === 0 && performance.now() - lastSpeakerSamplesAt > SPEAKER_STOPPED_MS) {
      // The speaker stopped (a unit's engine stops its devices between calls): silence in the room,
      // no echo owed; the next sound primes the queue afresh.
      primed = false;
      owed = 0;
    }
    if (owed > 0 && queued > 0) {
      // Echo that arrived after its frame had gone out with silence in its place.
      const skipped = take(Math.min(owed, queued)).length;
      delivered += skipped;
      owed -= skipped;
    }
    if (!primed && queued >= prime + MIC_FRAME) primed = true;
    let echo: Float64Array | undefined;
    if (primed) {
      if (queued > maxBacklog) {
        const excess = queued - (prime + MIC_FRAME);
        delivered += take(excess).length;
        slips += 1;
      }
      if (queued < MIC_FRAME) {
        underruns += 1;
        owed += MIC_FRAME - queued;
      }
      const readAt = speaker.timeOfSample(firstSpeakerSample + delivered);
      echo = take(Math.min(MIC_FRAME, queued));
      delivered += echo.length;
      if (readAt !== undefined && echo.length > 0) {
        recentDelays.push(performance.now() - readAt);
        if (recentDelays.length > 50) recentDelays.shift();
      }
    }
    for (let i = 0; i < frame.length; i += 1) {
      let value = frame[i] + (echo?.[i] ?? 0);
      if (noise !== undefined) {
        value += noise[noisePosition];
        noisePosition = (noisePosition + 1) % noise.length;
      }
      frame[i] = Math.max(-32768, Math.min(32767, Math.round(value)));
    }
  });

  const percentile = (share: number) => {
    if (recentDelays.length === 0) return undefined;
    const sorted = [...recentDelays].sort((a, b) => a - b);
    return sorted[Math.floor(share * (sorted.length - 1))];
  };
  return {
    get harnessDelayMs() {
      return percentile(0.5);
    },
    get harnessDelaySpreadMs() {
      const low = percentile(0.1);
      const high = percentile(0.9);
      return low === undefined || high === undefined ? undefined : high - low;
    },
    get echoSamplesDelivered() {
      return delivered;
    },
    get underruns() {
      return underruns;
    },
    get slips() {
      return slips;
    },
    setDelayMs(delayMs: number) {
      path.setDelayMs(delayMs);
    },
    dispose() {
      stopListening();
      alsa.mic(options.mic).setMixer(null);
    },
  };
}
