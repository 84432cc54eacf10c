import test from 'ava';
import { JitterBuffer } from '../../src/media/jitter-buffer.js';
import { FRAME_SAMPLES, TaggedDecoder, runVirtualCall, seededRandom } from '../support/media-simulation.js';

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

/**
 * The same with real speech through Opus: time-scaling now has to find pitch periods and quiet
 * passages in speech, not in a stand-in tone. Sender 200 ppm fast, for 30 minutes.
 */
test('Opus speech, sender 200 ppm fast: 30 minutes without underruns or growing delay', async (t) => {
  t.timeout(5 * 60_000);
  const { opusCodec } = await import('../../src/codec/opus.js');
  const { speechLikeSignal } = await import('../support/audio-analysis.js');
  const encoder = opusCodec.createEncoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000, complexity: 1 });
  const decoder = opusCodec.createDecoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000 });
  t.teardown(() => {
    encoder.close();
    decoder.close();
  });
  const speech = speechLikeSignal(12, 48_000, 3); // repeated: 12 s is 600 frames
  const speechFrames = speech.length / FRAME_SAMPLES;
  const buffer = new JitterBuffer({ decoder, frameSamples: FRAME_SAMPLES, minMs: 20, maxMs: 400 });
  const random = seededRandom(17);
  const delays: number[] = [];
  const [senderPpm, receiverPpm] = [200, 0];
  runVirtualCall({
    frames: THIRTY_MINUTES_FRAMES,
    senderPpm,
    receiverPpm,
    network: (_frame, sendMs) => [sendMs + 2 + random() * 4],
    deliver: (frame, arrivalMs) => {
      const at = (frame % speechFrames) * FRAME_SAMPLES;
      const payload = encoder.encode(speech.subarray(at, at + FRAME_SAMPLES));
      buffer.insert({ ssrc: 77, sequence: frame & 0xffff, timestamp: (frame * FRAME_SAMPLES) >>> 0, payloadType: 111, marker: false, payload }, arrivalMs);
    },
    read: (nowMs, readIndex) => {
      buffer.readFrame(nowMs);
      if (readIndex % 500 === 0 && readIndex > 3000) delays.push(buffer.stats().currentDelayMs);
    },
    tailMs: 0,
  });
  const stats = buffer.stats();
  t.log(`delay ${Math.min(...delays).toFixed(1)}-${Math.max(...delays).toFixed(1)} ms (target ${stats.targetDelayMs.toFixed(1)}), time-scaled ${stats.timeScaledMs.toFixed(0)} ms, estimated ${stats.driftPpm} ppm`);
  t.is(stats.underruns, 0);
  t.is(stats.packetsLate, 0);
  t.is(stats.packetsLost, 0);
  t.true(Math.max(...delays) <= stats.targetDelayMs + 25, `delay reached ${Math.max(...delays)} ms, target ${stats.targetDelayMs} ms`);
  // Speech is scaled a pitch period at a time, both ways around the target, so more is scaled in
  // all than the clocks drifted apart; but not endlessly back and forth.
  const drifted = (Math.abs(senderPpm - receiverPpm) * 1800_000) / 1e6;
  t.true(stats.timeScaledMs >= drifted * 0.9 && stats.timeScaledMs <= drifted * 3, `scaled ${stats.timeScaledMs} ms for ${drifted} ms of drift`);
  t.true(Math.abs(stats.driftPpm - (senderPpm - receiverPpm)) < 20, `estimated ${stats.driftPpm} ppm`);
});

/**
 * A sender whose sound card runs far off (the emulated guest's captures 8% slow): the receiver
 * must keep its delay within jitter.maxMs by time-scaling (and, when that cannot keep up with a
 * fast sender, by dropping), and the delay it reports must be the delay its speaker plays at:
 * within 20 ms of the time from each packet's fastest-path arrival to its playout.
 */
for (const senderPpm of [-100_000, -80_000, 100_000]) {
  test(`sender ${senderPpm / 10_000}% off: delay held within jitter.maxMs and reported within 20 ms of what is played`, async (t) => {
    const { opusCodec } = await import('../../src/codec/opus.js');
    const { speechLikeSignal } = await import('../support/audio-analysis.js');
    const encoder = opusCodec.createEncoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000, complexity: 1 });
    const decoder = opusCodec.createDecoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000 });
    t.teardown(() => {
      encoder.close();
      decoder.close();
    });
    const speech = speechLikeSignal(12, 48_000, 5);
    const speechFrames = speech.length / FRAME_SAMPLES;
    const payloads = Array.from({ length: speechFrames }, (_, frame) => encoder.encode(speech.subarray(frame * FRAME_SAMPLES, (frame + 1) * FRAME_SAMPLES)));
    const maxMs = 400;
    const played: { frame: number; playoutMs: number }[] = [];
    const buffer = new JitterBuffer({
      decoder,
      frameSamples: FRAME_SAMPLES,
      minMs: 5,
      maxMs,
      onPlayout: (event) => played.push({ frame: event.sequence, playoutMs: event.playoutMs }),
    });
    const random = seededRandom(31);
    const sendPeriodMs = 20 / (1 + senderPpm / 1e6);
    const fastestPathMs = 2;
    const errors: number[] = [];
    const delays: number[] = [];
    runVirtualCall({
      frames: 3 * 60 * 50,
      senderPpm,
      network: (_frame, sendMs) => [sendMs + fastestPathMs + random() * 4],
      deliver: (frame, arrivalMs) =>
        buffer.insert({ ssrc: 9, sequence: frame & 0xffff, timestamp: (frame * FRAME_SAMPLES) >>> 0, payloadType: 111, marker: false, payload: payloads[frame % speechFrames] }, arrivalMs),
      read: (nowMs, readIndex) => {
        const before = played.length;
        buffer.readFrame(nowMs);
        if (readIndex < 30 * 50 || played.length === before) return;
        // The packet just taken: its frame number (sequence wraps at 65536, the call is shorter).
        const last = played[played.length - 1];
        const measured = last.playoutMs - (last.frame * sendPeriodMs + fastestPathMs);
        delays.push(measured);
        errors.push(Math.abs(buffer.stats().currentDelayMs - measured));
      },
      tailMs: 0,
    });
    const stats = buffer.stats();
    t.log(`delay at the speaker ${Math.min(...delays).toFixed(0)}-${Math.max(...delays).toFixed(0)} ms, worst report error ${Math.max(...errors).toFixed(1)} ms, ` +
      `time-scaled ${stats.timeScaledMs.toFixed(0)} ms, underruns ${stats.underruns}, discarded ${stats.packetsDiscarded}`);
    t.true(delays.length > 1000);
    t.true(Math.max(...delays) <= maxMs, `the delay reached ${Math.max(...delays).toFixed(0)} ms (jitter.maxMs ${maxMs})`);
    t.true(Math.max(...errors) <= 20, `the reported delay was off by up to ${Math.max(...errors).toFixed(1)} ms`);
  });
}
