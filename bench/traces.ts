import { seededRandom as mulberry32 } from '../test/support/seeded-random.js';
/**
 * Seeded synthetic network traces for the jitter-buffer benchmark: for each 20 ms packet, when it
 * arrives (or that it was lost). Deterministic for a seed, so results are comparable run to run.
 */

export const TRACE_FRAME_MS = 20;

export interface NetworkTrace {
  name: string;
  description: string;
  /** Arrival time in ms of packet i, sent at i * 20 ms on the sender's clock; null when lost. */
  arrivals: (number | null)[];
  /** Fastest one-way delay in the trace (the fixed network baseline). */
  baseDelayMs: number;
  /** When the receiver's playback clock ticks, relative to the sender's frame clock. */
  readPhaseMs: number;
}


function exponential(random: () => number, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

function finish(name: string, description: string, arrivals: (number | null)[], random: () => number): NetworkTrace {
  let base = Infinity;
  arrivals.forEach((arrival, i) => {
    if (arrival !== null) base = Math.min(base, arrival - i * TRACE_FRAME_MS);
  });
  return { name, description, arrivals, baseDelayMs: base, readPhaseMs: random() * TRACE_FRAME_MS };
}

/** A switched LAN: 0.3 ms path, up to ~0.5 ms of jitter, no loss. */
export function cleanLanTrace(frames: number, seed = 1): NetworkTrace {
  const random = mulberry32(seed);
  const arrivals = Array.from({ length: frames }, (_, i) => i * TRACE_FRAME_MS + 0.3 + exponential(random, 0.1));
  return finish('clean LAN', '0.3 ms path, ~0.1 ms exponential jitter, no loss', arrivals, random);
}

/**
 * A loaded network: each packet independently delayed by a gamma(2, 10 ms) amount (mean 20 ms,
 * 99th percentile ~66 ms), so packets often overtake each other; 2% random loss.
 */
export function jitteryTrace(frames: number, seed = 2): NetworkTrace {
  const random = mulberry32(seed);
  const arrivals = Array.from({ length: frames }, (_, i) => {
    if (random() < 0.02) return null;
    return i * TRACE_FRAME_MS + 2 + exponential(random, 10) + exponential(random, 10);
  });
  return finish('20 ms jitter, 2% loss', 'gamma(2, 10 ms) delay per packet (mean 20 ms), 2% random loss', arrivals, random);
}

/**
 * Bursty Wi-Fi: a few ms of ordinary jitter, plus stalls (on average every 3 s) during which the
 * link holds packets for up to 60 ms and then releases them together (a retransmission or scan),
 * and 5% loss in bursts (Gilbert-Elliott: mean burst of 2 packets).
 */
export function burstyWifiTrace(frames: number, seed = 3): NetworkTrace {
  const random = mulberry32(seed);
  const arrivals: (number | null)[] = [];
  let stallEnd = -Infinity;
  let nextStall = exponential(random, 3000);
  let inLossBurst = false;
  // Gilbert-Elliott: leave a burst with p = 0.5 (mean length 2); enter with p so the average is 5%.
  const enterBurst = 0.05 / (2 * 0.95);
  for (let i = 0; i < frames; i++) {
    const sendMs = i * TRACE_FRAME_MS;
    inLossBurst = inLossBurst ? random() >= 0.5 : random() < enterBurst;
    if (sendMs >= nextStall) {
      stallEnd = sendMs + 20 + random() * 40;
      nextStall = sendMs + exponential(random, 3000);
    }
    const ordinary = 1.5 + exponential(random, 2);
    const held = sendMs < stallEnd ? stallEnd - sendMs : 0;
    arrivals.push(inLossBurst ? null : sendMs + ordinary + held);
  }
  return finish('bursty Wi-Fi', '~2 ms jitter, stalls of 20-60 ms every ~3 s released as bursts, 5% loss in bursts', arrivals, random);
}
