import test, { type ExecutionContext } from 'ava';
import Value from 'typebox/value';
import { analyseSelfTest, SelfTestReportSchema, type SelfTestReport } from '../../src/selftest/selftest-analysis.js';
import { selfTestSignal } from '../../src/selftest/selftest-signal.js';
import { renderScene } from '../support/room-simulator/room.js';
import type { EchoPathOptions } from '../support/room-simulator/echo-path.js';

// The self-test's analysis against the room simulator: the echo path's delay and coupling are
// known there, and must be found; a silent speaker and a dead microphone must be told apart.

const signal = selfTestSignal();

/** The report as the API, the status and selftest.json carry it (JSON) is what its schema says. */
function assertServable(t: ExecutionContext, report: SelfTestReport) {
  const asJson = JSON.parse(JSON.stringify(report));
  t.deepEqual([...Value.Errors(SelfTestReportSchema, asJson)], [], JSON.stringify(asJson));
}

function record(path: EchoPathOptions, noiseDbfs = -55) {
  const scene = renderScene({ path, farEnd: signal.samples, noiseDbfs, lengthSamples: signal.samples.length });
  return { signal, reference: scene.speaker, mic: scene.mic };
}

test('the test signal: quiet, a sweep, noise, quiet; 5.2 s at a safe level', (t) => {
  t.is(signal.samples.length, 5.2 * 48_000);
  const peak = (samples: Int16Array) => samples.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  // The sweep peaks at -12 dBFS, the noise (-20 dBFS RMS) a few dB higher: loud enough to measure, nowhere near clipping.
  t.true(peak(signal.samples.subarray(signal.sweep.start, signal.sweep.start + signal.sweep.length)) <= 32767 * 10 ** (-12 / 20) + 1);
  t.true(peak(signal.samples) <= 32767 * 10 ** (-3 / 20));
  t.is(peak(signal.samples.subarray(0, signal.quiet.length)), 0);
  t.true(signal.sweep.start >= signal.quiet.length && signal.noise.start > signal.sweep.start + signal.sweep.length);
});

for (const [delayMs, rt60Ms, couplingDb] of [[1, 200, 0], [10, 300, -6], [40, 400, -10], [25, 300, -25]]) {
  test(`finds a ${delayMs} ms, ${couplingDb} dB echo path (RT60 ${rt60Ms} ms), the noise floor and a converging canceller`, (t) => {
    const report = analyseSelfTest(record({ delayMs, rt60Ms, couplingDb, seed: delayMs + 50 }));
    t.log(JSON.stringify(report));
    t.true(report.speakerHeard);
    t.true(report.microphoneLive);
    t.false(report.microphoneClipped);
    t.true(Math.abs(report.echoDelayMs! - delayMs) <= 0.05, `delay ${report.echoDelayMs} ms`);
    t.true(Math.abs(report.couplingDb! - couplingDb) <= 1.5, `coupling ${report.couplingDb} dB`);
    t.true(Math.abs(report.noiseFloorDbfs! + 55) <= 1.5, `noise floor ${report.noiseFloorDbfs} dBFS`);
    t.true(report.cancellerConverged);
    t.deepEqual(report.problems, []);
    assertServable(t, report);
  });
}

test('a clipping loudspeaker: the path is still found', (t) => {
  const report = analyseSelfTest(record({ delayMs: 15, rt60Ms: 300, couplingDb: -6, seed: 60, loudspeakerClipDbfs: -18 }));
  t.log(JSON.stringify(report));
  t.true(report.speakerHeard);
  t.true(Math.abs(report.echoDelayMs! - 15) <= 0.05);
});

test('a speaker that makes no sound: the microphone is live, the speaker not heard, and the report says what to check', (t) => {
  const report = analyseSelfTest(record({ delayMs: 10, rt60Ms: 300, couplingDb: -200, seed: 61 }, -50));
  t.log(JSON.stringify(report));
  t.true(report.microphoneLive);
  t.false(report.speakerHeard);
  t.is(report.echoDelayMs, null);
  t.is(report.couplingDb, null);
  t.is(report.cancellerConverged, null);
  t.true(Math.abs(report.noiseFloorDbfs! + 50) <= 1.5);
  t.deepEqual(report.problems, ['the microphone did not hear the speaker: check the speaker\'s connection and the volume']);
  assertServable(t, report);
});

test('a dead microphone (digital silence or a constant) is reported as such', (t) => {
  for (const value of [0, -3]) {
    const report = analyseSelfTest({ signal, reference: signal.samples, mic: new Int16Array(signal.samples.length).fill(value) });
    t.false(report.microphoneLive);
    t.false(report.speakerHeard);
    t.is(report.noiseFloorDbfs, null);
    t.regex(report.problems[0], /^the microphone delivers no signal/);
    // Digital silence has neither echo nor noise: a finite figure, not -Infinity (which JSON turns into null).
    t.true(Number.isFinite(report.echoToNoiseDb));
    assertServable(t, report);
  }
});

test('a microphone driven into clipping and a noisy room are reported', (t) => {
  const loud = record({ delayMs: 5, rt60Ms: 200, couplingDb: 12, seed: 62 }, -40);
  const report = analyseSelfTest(loud);
  t.log(JSON.stringify(report));
  t.true(report.microphoneClipped);
  t.true(report.problems.some((problem) => problem.startsWith('the microphone clipped')));
  t.true(report.problems.some((problem) => problem.startsWith('the microphone hears a lot of noise')));
});

test('recordings that do not fit the signal are refused', (t) => {
  t.throws(() => analyseSelfTest({ signal, reference: new Int16Array(10), mic: new Int16Array(11) }), { instanceOf: RangeError });
  t.throws(() => analyseSelfTest({ signal, reference: new Int16Array(10), mic: new Int16Array(10) }), { instanceOf: RangeError });
});
