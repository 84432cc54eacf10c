import test from 'ava';
import type { Decoder } from '../../src/codec/codec.js';
import { JitterBuffer, type PlayoutEvent } from '../../src/media/jitter-buffer.js';
import { speechLikeSignal } from '../support/audio-analysis.js';
import { FRAME_MS, FRAME_SAMPLES, seededRandom } from '../support/media-simulation.js';

/**
 * A receiver against clocks far off (issue 12): senders whose sound cards run 10-25% slow or fast,
 * an emulated board that sends at ~80% of real time in irregular bursts, and a receiver whose own
 * playback device plays at 75% of real time. Everything runs on one virtual clock; the delay is
 * measured where the audio is heard, independently of the buffer's own bookkeeping: the time the
 * device plays each packet's first sample (from its place in the output and the device's real
 * pace) minus the time the packet would have arrived by the fastest path (its capture time on the
 * sender's real clock plus the network's smallest delay).
 */

const MAX_MS = 400;
const FASTEST_PATH_MS = 2;
const CALL_SECONDS = 60;
/** The fastest-path line needs a few seconds of a sender to fit its drift; judged after this. */
const WARM_UP_MS = 15_000;

interface Trace {
  /** Sender's capture clock against real time: 0.8 sends 40 frames in a real second. */
  senderRate: number;
  /** Receiver's playback device against real time: 0.75 plays 20 ms in 26.7 real ms. */
  deviceRate?: number;
  /** The sender's process runs in bursts (a starved emulated board): packets leave together. */
  bursty?: boolean;
  seed: number;
}

interface Outcome {
  /** Delay at the speaker of every packet played after the warm-up, ms. */
  delays: number[];
  /** |reported - measured| for the packet last played in each read after the warm-up, ms. */
  reportErrors: number[];
  /** Frames sent after the warm-up, and of those: decoded for playout (whole or time-scaled). */
  sentAfterWarmUp: number;
  playedAfterWarmUp: number;
  /** Concealed frames after the warm-up, as a share of the frames output. */
  fillerShare: number;
  stats: ReturnType<JitterBuffer['stats']>;
}

async function opus() {
  const { opusCodec } = await import('../../src/codec/opus.js');
  const encoder = opusCodec.createEncoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000, complexity: 1 });
  const decoder = opusCodec.createDecoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000 });
  const speech = speechLikeSignal(12, 48_000, 5);
  const frames = speech.length / FRAME_SAMPLES;
  const payloads = Array.from({ length: frames }, (_, frame) => encoder.encode(speech.subarray(frame * FRAME_SAMPLES, (frame + 1) * FRAME_SAMPLES)));
  encoder.close();
  return { decoder, payloads };
}

/** Counts what the decoder produced: decoded packets and concealed frames. */
class CountingDecoder implements Decoder {
  decoded = 0;
  concealed = 0;
  constructor(private readonly inner: Decoder) {}
  get canRecoverFromNext(): boolean {
    return this.inner.canRecoverFromNext;
  }
  decode(payload: Uint8Array): Int16Array {
    this.decoded++;
    return this.inner.decode(payload);
  }
  recoverFromNext(next: Uint8Array, frameSamples: number): Int16Array | null {
    return this.inner.recoverFromNext(next, frameSamples);
  }
  conceal(frameSamples: number): Int16Array {
    this.concealed++;
    return this.inner.conceal(frameSamples);
  }
  close(): void {
    this.inner.close();
  }
}

async function runTrace(trace: Trace): Promise<Outcome> {
  const { decoder: opusDecoder, payloads } = await opus();
  const decoder = new CountingDecoder(opusDecoder);
  const random = seededRandom(trace.seed);
  const sendPeriodMs = FRAME_MS / trace.senderRate;
  const readPeriodMs = FRAME_MS / (trace.deviceRate ?? 1);
  const frames = Math.floor((CALL_SECONDS * 1000) / sendPeriodMs);

  // When each frame leaves the sender: at once, or at the next moment its process runs.
  const departures: number[] = [];
  let runsAtMs = 0;
  for (let frame = 0; frame < frames; frame++) {
    const capturedMs = frame * sendPeriodMs;
    if (!trace.bursty) {
      departures.push(capturedMs);
      continue;
    }
    while (runsAtMs < capturedMs) runsAtMs += 20 + random() * 140;
    departures.push(runsAtMs);
  }
  const arrivals = departures
    .map((departedMs, frame) => ({ frame, arrivalMs: departedMs + FASTEST_PATH_MS + random() * 4 }))
    .sort((a, b) => a.arrivalMs - b.arrivalMs);

  const played: PlayoutEvent[] = [];
  const buffer = new JitterBuffer({ decoder, frameSamples: FRAME_SAMPLES, minMs: 5, maxMs: MAX_MS, onPlayout: (event) => played.push(event) });
  const readPhaseMs = 7;
  const readTime = (read: number) => readPhaseMs + read * readPeriodMs;
  /** Real time at which output sample `index` leaves the speaker. */
  const heardAt = (index: number) => readTime(Math.floor(index / FRAME_SAMPLES)) + ((index % FRAME_SAMPLES) / FRAME_SAMPLES) * readPeriodMs;
  const fastestArrival = (frame: number) => frame * sendPeriodMs + FASTEST_PATH_MS;

  const delays: number[] = [];
  const reportErrors: number[] = [];
  const playedFrames = new Set<number>();
  let next = 0;
  let outputFramesAfterWarmUp = 0;
  let fillerAfterWarmUp = 0;
  const endMs = frames * sendPeriodMs + 1_000;
  for (let read = 0; readTime(read) < endMs; read++) {
    const nowMs = readTime(read);
    while (next < arrivals.length && arrivals[next].arrivalMs <= nowMs) {
      const { frame, arrivalMs } = arrivals[next++];
      buffer.insert({ ssrc: 9, sequence: frame & 0xffff, timestamp: (frame * FRAME_SAMPLES) >>> 0, payloadType: 111, marker: false, payload: payloads[frame % payloads.length] }, arrivalMs);
    }
    const before = played.length;
    const concealedBefore = decoder.concealed;
    buffer.readFrame(nowMs);
    if (nowMs < WARM_UP_MS) continue;
    outputFramesAfterWarmUp++;
    fillerAfterWarmUp += decoder.concealed - concealedBefore;
    for (const event of played.slice(before)) {
      // sequence numbers do not wrap in a minute
      if (fastestArrival(event.sequence) < WARM_UP_MS) continue;
      playedFrames.add(event.sequence);
      delays.push(heardAt(event.outputSample) - fastestArrival(event.sequence));
    }
    if (played.length > before) {
      const last = played[played.length - 1];
      if (fastestArrival(last.sequence) >= WARM_UP_MS) {
        reportErrors.push(Math.abs(buffer.stats().currentDelayMs - (heardAt(last.outputSample) - fastestArrival(last.sequence))));
      }
    }
  }
  decoder.close();
  const sentAfterWarmUp = arrivals.filter(({ frame }) => fastestArrival(frame) >= WARM_UP_MS).length;
  return {
    delays,
    reportErrors,
    sentAfterWarmUp,
    playedAfterWarmUp: playedFrames.size,
    fillerShare: fillerAfterWarmUp / Math.max(1, outputFramesAfterWarmUp),
    stats: buffer.stats(),
  };
}

function describe(outcome: Outcome): string {
  const { delays, reportErrors, stats } = outcome;
  return (
    `delay at the speaker ${Math.min(...delays).toFixed(0)}-${Math.max(...delays).toFixed(0)} ms (jitter.maxMs ${MAX_MS}), ` +
    `reported within ${Math.max(...reportErrors).toFixed(1)} ms of it; played ${outcome.playedAfterWarmUp} of ${outcome.sentAfterWarmUp} frames ` +
    `(${((100 * outcome.playedAfterWarmUp) / outcome.sentAfterWarmUp).toFixed(1)}%), filler ${(100 * outcome.fillerShare).toFixed(1)}% of the output; ` +
    `time-scaled ${stats.timeScaledMs.toFixed(0)} ms, discarded ${stats.packetsDiscarded}, lost ${stats.packetsLost}, underruns ${stats.underruns}, drift ${stats.driftPpm} ppm`
  );
}

for (const senderRate of [0.9, 1.1]) {
  test(`sender ${Math.round((senderRate - 1) * 100)}%: delay within jitter.maxMs, reported within 20 ms of the speaker's, all played`, async (t) => {
    const outcome = await runTrace({ senderRate, seed: 41 });
    t.log(describe(outcome));
    t.true(outcome.delays.length > 1000);
    t.true(Math.max(...outcome.delays) <= MAX_MS);
    t.true(Math.max(...outcome.reportErrors) <= 20, `the reported delay was off by up to ${Math.max(...outcome.reportErrors).toFixed(1)} ms`);
    // Within 10% time-scaling follows the sender: nothing is dropped; a slow sender's buffer runs
    // dry now and then where a frame has no pitch period to repeat (a frame of concealment each).
    t.true(outcome.playedAfterWarmUp >= 0.99 * outcome.sentAfterWarmUp);
    t.true(outcome.fillerShare < 0.02, `filler ${(100 * outcome.fillerShare).toFixed(1)}% of the output`);
  });
}

for (const senderRate of [0.8, 0.75, 1.2, 1.25]) {
  test(`sender ${Math.round((senderRate - 1) * 100)}%: delay bounded by jitter.maxMs, reported right, most of the audio played`, async (t) => {
    const outcome = await runTrace({ senderRate, seed: 43 });
    t.log(describe(outcome));
    t.true(Math.max(...outcome.delays) <= MAX_MS);
    t.true(Math.max(...outcome.reportErrors) <= 20, `the reported delay was off by up to ${Math.max(...outcome.reportErrors).toFixed(1)} ms`);
    // A slow sender's audio all fits (stretched or with gaps between); a fast sender's must be
    // shortened by time-scaling or by dropping up to a fifth of it.
    t.true(outcome.playedAfterWarmUp >= (senderRate < 1 ? 0.97 : 0.75) * outcome.sentAfterWarmUp);
  });
}

for (const senderRate of [0.84, 0.76]) {
  test(`bursty sender at ${senderRate * 100}% of real time (a starved emulated board): delay bounded, reported right, its audio played`, async (t) => {
    const outcome = await runTrace({ senderRate, bursty: true, seed: 47 });
    t.log(describe(outcome));
    t.true(Math.max(...outcome.delays) <= MAX_MS);
    t.true(Math.max(...outcome.reportErrors) <= 20, `the reported delay was off by up to ${Math.max(...outcome.reportErrors).toFixed(1)} ms`);
    t.true(outcome.playedAfterWarmUp >= 0.97 * outcome.sentAfterWarmUp);
  });
}

for (const deviceRate of [0.75, 0.7]) {
  test(`own playback device at ${deviceRate * 100}% of real time: delay bounded, reported right, what plays is the sender's audio`, async (t) => {
    const outcome = await runTrace({ senderRate: 1, deviceRate, seed: 53 });
    t.log(describe(outcome));
    t.true(Math.max(...outcome.delays) <= MAX_MS);
    t.true(Math.max(...outcome.reportErrors) <= 20, `the reported delay was off by up to ${Math.max(...outcome.reportErrors).toFixed(1)} ms`);
    // The device plays only `deviceRate` of real time: the rest must be shortened or dropped, but
    // what it plays is the sender's audio, not concealment or silence.
    t.true(outcome.fillerShare < 0.02, `filler ${(100 * outcome.fillerShare).toFixed(1)}% of the output`);
    t.true(outcome.playedAfterWarmUp >= deviceRate * 0.9 * outcome.sentAfterWarmUp);
  });
}
