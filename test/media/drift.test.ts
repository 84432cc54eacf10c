import test from 'ava';
import { JitterBuffer } from '../../src/media/jitter-buffer.js';
import { FRAME_SAMPLES, TaggedDecoder, runVirtualCall, seededRandom } from './support/simulation.js';

const THIRTY_MINUTES_FRAMES = (30 * 60 * 1000) / 20;

/**
 * A 30-minute call between sound cards whose clocks differ by 200 ppm (0.2 ms/s, 360 ms over the
 * call), on a LAN with a few ms of jitter. Time-scaling must absorb the difference: the delay stays
 * near its target the whole time and playback never runs dry.
 */
function thirtyMinuteCall(senderPpm: number, receiverPpm: number) {
  const decoder = new TaggedDecoder();
  const buffer = new JitterBuffer({ decoder, frameSamples: FRAME_SAMPLES, minMs: 20, maxMs: 400 });
  const random = seededRandom(senderPpm * 7 + receiverPpm);
  const delays: number[] = [];
  let stepsAfterWarmUp = 0;
  runVirtualCall({
    frames: THIRTY_MINUTES_FRAMES,
    senderPpm,
    receiverPpm,
    network: (_frame, sendMs) => [sendMs + 2 + random() * 4],
    deliver: (frame, arrivalMs) =>
      buffer.insert(
        { ssrc: 77, sequence: frame & 0xffff, timestamp: (frame * FRAME_SAMPLES) >>> 0, payloadType: 96, marker: false, payload: TaggedDecoder.payload(frame) },
        arrivalMs,
      ),
    read: (_nowMs, readIndex) => {
      buffer.readFrame(_nowMs);
      if (readIndex % 500 === 0 && readIndex > 3000) {
        delays.push(buffer.stats().currentDelayMs);
        stepsAfterWarmUp++;
      }
    },
    tailMs: 0,
  });
  return { stats: buffer.stats(), delays, decoder, stepsAfterWarmUp };
}

for (const [senderPpm, receiverPpm] of [
  [200, 0],
  [-200, 0],
  [0, 200],
  [100, -100],
] as const) {
  test(`sender ${senderPpm} ppm, receiver ${receiverPpm} ppm: 30 minutes without underruns or growing delay`, (t) => {
    const { stats, delays, decoder } = thirtyMinuteCall(senderPpm, receiverPpm);
    t.is(stats.underruns, 0);
    t.is(stats.packetsLate, 0);
    t.is(stats.packetsLost, 0);
    t.is(decoder.concealed, 0);
    const worst = Math.max(...delays);
    t.true(worst <= stats.targetDelayMs + 25, `delay reached ${worst} ms, target ${stats.targetDelayMs} ms`);
    t.true(Math.min(...delays) >= stats.targetDelayMs - 5);
    // what was scaled is about what the clocks drifted apart: 200 ppm of 30 minutes is 360 ms
    const drifted = (Math.abs(senderPpm - receiverPpm) * 1800_000) / 1e6;
    t.true(stats.timeScaledMs >= drifted * 0.9 && stats.timeScaledMs <= drifted * 1.5 + 200, `scaled ${stats.timeScaledMs} ms for ${drifted} ms of drift`);
    const expectedPpm = senderPpm - receiverPpm;
    t.true(Math.abs(stats.driftPpm - expectedPpm) < 20, `estimated ${stats.driftPpm} ppm, true ${expectedPpm}`);
  });
}
