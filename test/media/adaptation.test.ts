import test from 'ava';
import { l16Codec } from '../../src/codec/l16.js';
import { JitterBuffer } from '../../src/media/jitter-buffer.js';
import { FRAME_SAMPLES, TaggedDecoder, maxStep, runVirtualCall, seededRandom, tone } from '../support/media-simulation.js';

const SECOND_FRAMES = 50;

test('the target delay rises quickly with jitter and falls slowly back on a clean network', (t) => {
  const decoder = new TaggedDecoder();
  const buffer = new JitterBuffer({ decoder, frameSamples: FRAME_SAMPLES, minMs: 20, maxMs: 400 });
  const random = seededRandom(11);
  const jitterFrom = 30 * SECOND_FRAMES;
  const cleanFrom = 60 * SECOND_FRAMES;
  const targetAt = new Map<number, number>();
  let lateDuringJitter = 0;
  runVirtualCall({
    frames: 360 * SECOND_FRAMES,
    network: (frame, sendMs) => {
      const jittery = frame >= jitterFrom && frame < cleanFrom;
      return [sendMs + 3 + (jittery ? random() * 60 : random() * 2)];
    },
    deliver: (frame, arrivalMs) =>
      buffer.insert({ ssrc: 1, sequence: frame & 0xffff, timestamp: frame * FRAME_SAMPLES, payloadType: 96, marker: false, payload: TaggedDecoder.payload(frame) }, arrivalMs),
    read: (nowMs, readIndex) => {
      buffer.readFrame(nowMs);
      if (readIndex % SECOND_FRAMES === 0) targetAt.set(readIndex / SECOND_FRAMES, buffer.stats().targetDelayMs);
      if (readIndex === jitterFrom) lateDuringJitter = -buffer.stats().packetsLate;
      if (readIndex === cleanFrom) lateDuringJitter += buffer.stats().packetsLate;
    },
  });
  const target = (second: number) => targetAt.get(second)!;
  t.is(target(29), 20, 'clean LAN: the minimum');
  t.true(target(33) >= 50, `3 s into the jitter: ${target(33)} ms`);
  t.true(target(59) >= 55 && target(59) <= 70, `end of the jitter: ${target(59)} ms`);
  t.true(lateDuringJitter / (cleanFrom - jitterFrom) < 0.02, `${lateDuringJitter} late`);
  t.true(target(70) >= 50, `10 s after the jitter ended it remembers: ${target(70)} ms`);
  t.true(target(355) <= 25, `5 minutes later it has forgotten: ${target(355)} ms`);
  t.true(buffer.stats().currentDelayMs <= target(355) + 22);
});

test('time-scaling changes the delay without discontinuities in a tone', (t) => {
  const codecOptions = { frameSamples: FRAME_SAMPLES, bitrate: 0 };
  const encoder = l16Codec.createEncoder(codecOptions);
  const buffer = new JitterBuffer({ decoder: l16Codec.createDecoder(codecOptions), frameSamples: FRAME_SAMPLES, minMs: 20, maxMs: 400, delay: { forgetFactor: 0.995 } });
  const frequency = 210;
  const amplitude = 12_000;
  const frames = 40 * SECOND_FRAMES;
  const payloads = Array.from({ length: frames }, (_, frame) => encoder.encode(tone(FRAME_SAMPLES, amplitude, frequency, frame * FRAME_SAMPLES)));
  const output: number[] = [];
  runVirtualCall({
    frames,
    // the path delay ramps up by 80 ms and back down: the buffer must stretch, then compress
    network: (frame, sendMs) => [sendMs + 3 + 80 * Math.max(0, Math.sin((Math.PI * frame) / (20 * SECOND_FRAMES)))],
    deliver: (frame, arrivalMs) =>
      buffer.insert({ ssrc: 1, sequence: frame, timestamp: frame * FRAME_SAMPLES, payloadType: 96, marker: false, payload: payloads[frame] }, arrivalMs),
    read: (nowMs) => output.push(...buffer.readFrame(nowMs)),
  });
  const stats = buffer.stats();
  t.true(stats.timeScaledMs > 100, `scaled ${stats.timeScaledMs} ms`);
  t.is(stats.packetsLost, 0);
  t.is(stats.packetsLate, 0);
  const playing = output.slice(output.findIndex((sample) => sample !== 0), output.length - 600 * 48);
  const sineStep = (2 * Math.PI * frequency * amplitude) / 48_000;
  t.true(maxStep(playing) <= sineStep * 1.2, `largest step ${maxStep(playing)}, the tone's own ${sineStep.toFixed(0)}`);
});
