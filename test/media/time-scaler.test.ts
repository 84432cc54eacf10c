import test from 'ava';
import { accelerate, expand, QUIET_RMS } from '../../src/media/time-scaler.js';
import { maxStep, seededRandom, tone } from '../support/media-simulation.js';

const FRAME = 960;
const sineStep = (frequency: number, amplitude: number) => (2 * Math.PI * frequency * amplitude) / 48_000;

test('accelerate removes a whole number of pitch periods and keeps the waveform continuous', (t) => {
  const frequency = 210; // a period of 228.6 samples: no lag matches it exactly
  const frame = tone(FRAME, 10_000, frequency, 13);
  const result = accelerate(frame, { maxSamples: 480, minCorrelation: 0.9 });
  if (!result) return t.fail('a pure tone is periodic');
  t.true([-228, -229].includes(result.changedSamples), `removed ${result.changedSamples}`);
  t.is(result.pcm.length, FRAME + result.changedSamples);
  t.is(result.pcm[0], frame[0]);
  t.is(result.pcm.at(-1), frame.at(-1));
  t.true(maxStep(result.pcm) <= sineStep(frequency, 10_000) * 1.05);
});

test('expand inserts a pitch period and keeps the waveform continuous', (t) => {
  const frequency = 330; // a period of 145.5 samples
  const frame = tone(FRAME, 10_000, frequency, 5);
  const result = expand(frame, { maxSamples: 480, minCorrelation: 0.9 });
  if (!result) return t.fail('a pure tone is periodic');
  const periods = result.changedSamples / (48_000 / frequency);
  t.true(Math.abs(periods - Math.round(periods)) < 0.02, `inserted ${result.changedSamples}`);
  t.is(result.pcm.length, FRAME + result.changedSamples);
  t.true(maxStep(result.pcm) <= sineStep(frequency, 10_000) * 1.05);
});

test('loud aperiodic audio is left alone unless the caller accepts a low correlation', (t) => {
  const random = seededRandom(1);
  const noise = Int16Array.from({ length: FRAME }, () => Math.round((random() - 0.5) * 20_000));
  t.is(accelerate(noise, { maxSamples: 480, minCorrelation: 0.9 }), null);
  t.is(expand(noise, { maxSamples: 480, minCorrelation: 0.9 }), null);
  t.truthy(accelerate(noise, { maxSamples: 480, minCorrelation: -1 }));
});

test('a quiet frame can be shortened by just the amount asked for', (t) => {
  const random = seededRandom(2);
  const hiss = Int16Array.from({ length: FRAME }, () => Math.round((random() - 0.5) * QUIET_RMS));
  const result = accelerate(hiss, { maxSamples: 100, minCorrelation: 0.99 });
  t.is(result?.changedSamples, -100);
  t.is(accelerate(hiss, { maxSamples: 10, minCorrelation: 0.99 }), null, 'too short to cross-fade');
});

test('nothing is removed when less than a minimum pitch period is allowed', (t) => {
  t.is(accelerate(tone(FRAME, 10_000, 150), { maxSamples: 100, minCorrelation: 0 }), null);
});
