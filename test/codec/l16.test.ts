import test from 'ava';
import { l16Codec } from '../../src/codec/l16.js';
import { maxStep, tone } from '../support/media-simulation.js';

const FRAME = 960;
const options = { frameSamples: FRAME, bitrate: 0 };

test('L16 encodes big-endian (network byte order) and decodes back exactly', (t) => {
  const pcm = Int16Array.from({ length: FRAME }, (_, i) => (i * 977) % 65536 - 32768);
  pcm[0] = 0x0102;
  pcm[1] = -2;
  const payload = l16Codec.createEncoder(options).encode(pcm);
  t.is(payload.length, FRAME * 2);
  t.deepEqual([...payload.subarray(0, 4)], [0x01, 0x02, 0xff, 0xfe]);
  t.deepEqual(l16Codec.createDecoder(options).decode(payload), pcm);
});

test('L16 rejects malformed payloads and wrong-size frames', (t) => {
  const decoder = l16Codec.createDecoder(options);
  t.throws(() => decoder.decode(new Uint8Array(5)), { instanceOf: RangeError });
  t.throws(() => decoder.decode(new Uint8Array(0)), { instanceOf: RangeError });
  t.throws(() => l16Codec.createEncoder(options).encode(new Int16Array(10)), { instanceOf: RangeError });
});

test('L16 concealment continues the waveform without a jump and fades to silence by 60 ms', (t) => {
  const encoder = l16Codec.createEncoder(options);
  const decoder = l16Codec.createDecoder(options);
  const frequency = 220; // not a whole number of cycles per frame, so the pitch search has work to do
  const played: number[] = [];
  for (let frame = 0; frame < 5; frame++) played.push(...decoder.decode(encoder.encode(tone(FRAME, 10_000, frequency, frame * FRAME))));
  const sineStep = (2 * Math.PI * frequency * 10_000) / 48_000;
  const concealed: number[] = [];
  for (let frame = 0; frame < 4; frame++) concealed.push(...decoder.conceal(FRAME));
  t.is(concealed.length, 4 * FRAME);
  t.true(maxStep([...played.slice(-10), ...concealed]) <= sineStep * 1.3, `step ${maxStep([...played.slice(-10), ...concealed])}`);
  // full level for the first 10 ms, silent from 60 ms on
  t.true(Math.max(...concealed.slice(0, 480).map(Math.abs)) > 9000);
  t.true(concealed.slice(2880).every((sample) => sample === 0));
});

test('L16 blends back into real audio after a concealment without a click', (t) => {
  const encoder = l16Codec.createEncoder(options);
  const decoder = l16Codec.createDecoder(options);
  const out: number[] = [];
  for (let frame = 0; frame < 3; frame++) out.push(...decoder.decode(encoder.encode(tone(FRAME, 10_000, 400, frame * FRAME))));
  out.push(...decoder.conceal(FRAME));
  // resume with the tone in a different phase: the merge must hide the discontinuity
  out.push(...decoder.decode(encoder.encode(tone(FRAME, 10_000, 400, 4 * FRAME + 30))));
  const sineStep = (2 * Math.PI * 400 * 10_000) / 48_000;
  t.true(maxStep(out) < sineStep * 1.6, `step ${maxStep(out)} vs sine ${sineStep}`);
});

test('L16 conceals silence when nothing audible was played before', (t) => {
  const decoder = l16Codec.createDecoder(options);
  t.true(decoder.conceal(FRAME).every((sample) => sample === 0));
  t.false(decoder.canRecoverFromNext);
  t.is(decoder.recoverFromNext(new Uint8Array(FRAME * 2), FRAME), null);
});
