import test from 'ava';
import { ResidualEchoGate, type BlockEnergies } from '../../src/audio-processing/residual-echo-gate.js';

// The gate sees the canceller's energies per 10 ms block. It must close while only the far end
// talks and the canceller does its job, and open as soon as the canceller's output carries more
// than echo: near-end speech, one block ahead of the block it gates.

const N = 480;
const power = (dbfs: number) => N * 32768 ** 2 * 10 ** (dbfs / 10);

function gate(): ResidualEchoGate {
  return new ResidualEchoGate({ depthDb: 12, blockSamples: N, sampleRate: 48_000 });
}

/** Far end at -20 dBFS, echo at the mic at -26, cancelled by 25 dB, a little hiss. */
function echoOnly(jitterDb = 0): BlockEnergies {
  const mic = power(-26 + jitterDb);
  return { mic, reference: power(-20 + jitterDb), cancelled: mic / 10 ** 2.5 + power(-80) };
}

test('stays open until it knows how well the canceller does, then closes to its depth while only the far end talks', (t) => {
  const g = gate();
  const gains: number[] = [];
  for (let i = 0; i < 200; i += 1) gains.push(g.next(echoOnly(3 * Math.sin(i))));
  t.is(gains[0], 1);
  t.true(gains.slice(50).every((gain) => Math.abs(gain - 10 ** (-12 / 20)) < 1e-9), 'closed to -12 dB');
  t.true(g.gatedBlocks > 150);
});

test('near-end speech opens it at once, including for the block before the speech', (t) => {
  const g = gate();
  for (let i = 0; i < 200; i += 1) g.next(echoOnly());
  const speech: BlockEnergies = { ...echoOnly(), mic: power(-26) + power(-30), cancelled: power(-30) };
  // The gain returned now is for the previous block, and must already be open.
  t.is(g.next(speech), 1);
  t.is(g.next(speech), 1);
  // After the speech, the gate stays open a while (syllables decay), then closes again.
  const after: number[] = [];
  for (let i = 0; i < 40; i += 1) after.push(g.next(echoOnly()));
  t.is(after[0], 1);
  t.true(after.at(-1)! < 0.3);
});

test('without far-end activity it never closes, and it closes only for the reverberation after the far end stops', (t) => {
  const g = gate();
  for (let i = 0; i < 200; i += 1) t.is(g.next({ mic: power(-50), reference: 0, cancelled: power(-50) }), 1);
  for (let i = 0; i < 100; i += 1) g.next(echoOnly());
  const silence: BlockEnergies = { mic: power(-70), reference: 0, cancelled: power(-75) };
  const gains: number[] = [];
  for (let i = 0; i < 60; i += 1) gains.push(g.next(silence));
  t.true(gains[5] < 1, 'still closed 50 ms after the far end stopped (its echo is still in the room)');
  t.is(gains.at(-1), 1, 'open again once the room has gone quiet');
});

test('stationary noise above the echo does not hold it open', (t) => {
  const g = gate();
  const noisy = (): BlockEnergies => {
    const echo = echoOnly();
    return { mic: echo.mic + power(-45), reference: echo.reference, cancelled: echo.cancelled + power(-45) };
  };
  for (let i = 0; i < 400; i += 1) g.next(noisy());
  t.true(g.next(noisy()) < 0.3);
});
