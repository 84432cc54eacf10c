import test from 'ava';
import { speechLikeSignal } from '../support/audio-analysis.js';
import { seededRandom } from '../support/seeded-random.js';
import { SAMPLE_RATE, measureTone, toneHeard } from '../support/tone-check.js';

// The boot test's tone check on recordings made up to look like what the emulated guest's tone
// becomes on its way to the host (late, in pieces, concealed, time-scaled), and like what a speaker
// plays when the guest sends nothing: the default check must pass the first and fail the second.

const SENT_SECONDS = 6;
const GUEST_HZ = 1000;
const HOST_HZ = 440;

function silence(seconds: number): Int16Array {
  return new Int16Array(Math.round(seconds * SAMPLE_RATE));
}

function tone(frequencyHz: number, seconds: number, amplitude = 9000, phase = 0): Int16Array {
  const samples = silence(seconds);
  for (let i = 0; i < samples.length; i += 1) samples[i] = Math.round(amplitude * Math.sin(phase + (2 * Math.PI * frequencyHz * i) / SAMPLE_RATE));
  return samples;
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function noise(seconds: number, amplitude: number, seed = 7): Int16Array {
  const random = seededRandom(seed);
  return silence(seconds).map(() => Math.round((random() * 2 - 1) * amplitude));
}

/**
 * The guest's 6 s tone as the host's speaker played it in a bad run: 3 s late, only 70 % of it
 * captured (in 20-120 ms pieces with gaps between), each piece starting at a new phase and
 * fading in, the gaps filled by a decaying concealment tail or silence, over a noise floor.
 */
function brokenGuestTone(seed = 3): Int16Array {
  const random = seededRandom(seed);
  const parts: Int16Array[] = [silence(3)];
  let sent = 0;
  while (sent < SENT_SECONDS) {
    const pieceSeconds = 0.02 + random() * 0.1;
    const piece = tone(GUEST_HZ, pieceSeconds, 7000 + random() * 3000, random() * 2 * Math.PI);
    for (let i = 0; i < Math.min(240, piece.length); i += 1) piece[i] = Math.round((piece[i]! * i) / 240);
    parts.push(piece);
    sent += pieceSeconds / 0.7;
    const gapSeconds = (pieceSeconds * 0.3) / 0.7;
    const tail = tone(GUEST_HZ, gapSeconds, 3000, random() * 2 * Math.PI);
    for (let i = 0; i < tail.length; i += 1) tail[i] = Math.round(tail[i]! * Math.exp(-i / 480));
    parts.push(random() < 0.5 ? tail : silence(gapSeconds));
  }
  parts.push(silence(6));
  const recording = concat(...parts);
  const floor = noise(recording.length / SAMPLE_RATE, 200, seed);
  return recording.map((sample, i) => sample + floor[i]!);
}

test('a clean tone counts for its whole length, wherever it starts', (t) => {
  const measure = measureTone(concat(silence(4.01), tone(GUEST_HZ, SENT_SECONDS), silence(4)), GUEST_HZ);
  t.true(Math.abs(measure.toneSeconds - SENT_SECONDS) <= 0.04, `${measure.toneSeconds} s`);
  t.true(measure.longestRunSeconds >= SENT_SECONDS - 0.04);
  t.true(toneHeard(concat(silence(9), tone(GUEST_HZ, SENT_SECONDS), silence(1)), GUEST_HZ, SENT_SECONDS).heard, 'late, at the end of the recording');
});

test('the guest tone in pieces, concealed and late is heard; the 100 ms-window check used to miss it', (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const recording = brokenGuestTone(seed);
    const verdict = toneHeard(recording, GUEST_HZ, SENT_SECONDS);
    t.true(verdict.heard, `seed ${seed}: ${verdict.toneSeconds} s of tone, floor ${verdict.floorSeconds} s`);
    // Pieces of up to 120 ms, a gap's concealment tail counting for its first 20 ms or two.
    t.true(verdict.longestRunSeconds < 0.4, `seed ${seed}: broken into pieces (longest ${verdict.longestRunSeconds} s)`);
  }
});

test('a slightly detuned tone (a sound card clock off by 1 %) still counts', (t) => {
  t.true(toneHeard(tone(GUEST_HZ * 1.01, SENT_SECONDS), GUEST_HZ, SENT_SECONDS).heard);
});

test('the default check fails when the guest sends silence: what the host speaker then plays', (t) => {
  const cases: Record<string, Int16Array> = {
    'digital silence': silence(18),
    'a noise floor': noise(18, 300),
    'loud broadband noise': noise(18, 12_000),
    'speech': speechLikeSignal(18),
    "the host's own 440 Hz tone": concat(silence(2), tone(HOST_HZ, 14), silence(2)),
    'concealment tails only (a decaying 1000 Hz burst per second)': concat(
      ...Array.from({ length: 18 }, (_, second) => {
        const tail = tone(GUEST_HZ, 1, 3000, second);
        return tail.map((sample, i) => Math.round(sample * Math.exp(-i / 480)));
      }),
    ),
  };
  for (const [name, recording] of Object.entries(cases)) {
    const verdict = toneHeard(recording, GUEST_HZ, SENT_SECONDS);
    t.false(verdict.heard, `${name}: ${verdict.toneSeconds} s of tone`);
  }
});

test('less tone than the floor fails, however it is spread', (t) => {
  const floorSeconds = SENT_SECONDS / 6;
  // 0.9 s of tone in 45 pieces of 20 ms over 14.4 s.
  const sparse = concat(...Array.from({ length: 45 }, () => concat(tone(GUEST_HZ, 0.02), silence(0.3))));
  const verdict = toneHeard(sparse, GUEST_HZ, SENT_SECONDS);
  t.true(Math.abs(verdict.toneSeconds - 0.9) < 0.05, `${verdict.toneSeconds} s`);
  t.is(verdict.floorSeconds, floorSeconds);
  t.false(verdict.heard);
});
