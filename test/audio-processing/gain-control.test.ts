import test from 'ava';
import { GainControl } from '../../src/audio-processing/gain-control.js';

// Gain control, block by block: it learns only from blocks the caller marks as near-end speech,
// follows the talker at a bounded rate, and turns down at once rather than clip.

function block(rmsDbfs: number, peakFactor = Math.SQRT2): Int16Array {
  const amplitude = 32768 * 10 ** (rmsDbfs / 20) * peakFactor;
  return Int16Array.from({ length: 480 }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * 500 * i) / 48_000)));
}

function run(gain: GainControl, rmsDbfs: number, blocks: number, nearEnd = true): number {
  let last = 1;
  for (let i = 0; i < blocks; i += 1) last = gain.nextGain(block(rmsDbfs), nearEnd);
  return 20 * Math.log10(last);
}

test('starts at 0 dB and brings a quiet talker up and a loud one down to the target', (t) => {
  const quiet = new GainControl();
  t.is(quiet.gainDb, 0);
  t.true(Math.abs(run(quiet, -35, 600) - 12) < 0.5, `quiet: ${quiet.gainDb}`);
  const loud = new GainControl();
  t.true(Math.abs(run(loud, -11, 600) + 12) < 0.5, `loud: ${loud.gainDb}`);
});

test('blocks that are not near-end speech teach it nothing', (t) => {
  const gain = new GainControl();
  run(gain, -60, 1000, false);
  t.is(gain.gainDb, 0);
  t.is(gain.speechLevelDbfs.toFixed(1), '-23.0');
});

test('rises at most 12 dB per second and falls at most 40', (t) => {
  const up = new GainControl({ levelSmoothing: 1 });
  run(up, -43, 100); // 1 s of a -43 dBFS talker: wants +20 dB
  t.true(Math.abs(up.gainDb - 12) < 0.01, `after 1 s: ${up.gainDb}`);
  const down = new GainControl({ levelSmoothing: 1, maxCutDb: 60 });
  run(down, -3, 50); // wants -20 dB: reached within 0.5 s at 40 dB/s
  t.true(down.gainDb <= -19.99);
});

test('never raises a talker by more than maxGainDb', (t) => {
  const gain = new GainControl();
  run(gain, -70, 3000);
  t.is(Math.round(gain.gainDb), 24);
});

test('a block that would pass the ceiling is turned down at once', (t) => {
  const gain = new GainControl();
  run(gain, -40, 600); // +17 dB for a quiet talker
  const loud = block(-10); // a shout: peaks at -7 dBFS, +17 dB would clip
  const linear = gain.nextGain(loud, true);
  const peak = Math.max(...loud.map(Math.abs));
  t.true(peak * linear <= 32768 * 10 ** (-1 / 20) + 1);
});
