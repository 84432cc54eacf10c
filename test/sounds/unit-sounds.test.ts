import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import wavefile from 'wavefile';
import { TONE_PLANS } from '../../src/sounds/tone-plan.js';
import { loadRingTone } from '../../src/sounds/ring-tone.js';
import { UnitSounds, mixInto, volumeGain, type SoundSource, type UnitSoundName } from '../../src/sounds/unit-sounds.js';
import { rms, toneShare } from '../support/audio-analysis.js';

// The unit's own sounds: each one is recognised by its frequencies, plays its cadence in frames
// of the configured size, and rings until stopped or ends by itself.

const S = 48_000;

/** Plays a source for up to `seconds` (or until it ends), returning every sample and the frame sizes. */
function collect(source: SoundSource, seconds: number): { samples: Int16Array; frameSizes: Set<number>; ended: boolean } {
  const frames: Int16Array[] = [];
  let total = 0;
  let ended = false;
  while (total < seconds * S) {
    const frame = source.nextFrame();
    if (frame === null) {
      ended = true;
      break;
    }
    frames.push(frame);
    total += frame.length;
  }
  const samples = new Int16Array(total);
  let at = 0;
  for (const frame of frames) {
    samples.set(frame, at);
    at += frame.length;
  }
  return { samples, frameSizes: new Set(frames.map((frame) => frame.length)), ended };
}

const slice = (samples: Int16Array, fromSeconds: number, toSeconds: number) => samples.subarray(Math.round(fromSeconds * S), Math.round(toSeconds * S));
/** Share of the power at these frequencies together (0..1). */
const share = (samples: Int16Array, frequencies: number[]) => frequencies.reduce((sum, frequency) => sum + toneShare(samples, frequency), 0);

const sounds = new UnitSounds({ frameSamples: 960, ringVolume: 100 });

test('the ring is a ding (659 Hz) and a dong (523 Hz), then a pause, again and again until stopped', (t) => {
  const ring = sounds.play('ring');
  const { samples, frameSizes, ended } = collect(ring, 30);
  t.false(ended, 'still ringing after 30 s');
  t.deepEqual([...frameSizes], [960]);
  for (const cycle of [0, 3, 27]) {
    // The notes decay like a bell, which spreads them a little: well over half their power, and none of the other note.
    const ding = slice(samples, cycle + 0.02, cycle + 0.55);
    const dong = slice(samples, cycle + 0.65, cycle + 1.5);
    t.true(toneShare(ding, 659.25) > 0.7 && toneShare(ding, 523.25) < 0.02, `ding of cycle at ${cycle} s`);
    t.true(toneShare(dong, 523.25) > 0.7 && toneShare(dong, 659.25) < 0.02, `dong of cycle at ${cycle} s`);
    t.true(rms(slice(samples, cycle + 1.65, cycle + 2.95)) < 1, 'pause');
  }
  ring.stop();
  const last = ring.nextFrame();
  t.truthy(last, 'one more frame, fading out');
  t.true(Math.abs(last!.at(-1)!) <= 1);
  t.is(ring.nextFrame(), null);
  t.true(ring.finished);
});

test('ringback is 440 + 480 Hz, 2 s on and 4 s off, until stopped', (t) => {
  const { samples, ended } = collect(sounds.play('ringback'), 20);
  t.false(ended);
  for (const cycle of [0, 6, 12]) {
    const on = slice(samples, cycle + 0.05, cycle + 1.95);
    t.true(share(on, [440, 480]) > 0.9);
    t.true(toneShare(on, 440) > 0.35 && toneShare(on, 480) > 0.35, 'both components');
    t.true(rms(slice(samples, cycle + 2.05, cycle + 5.95)) < 1);
  }
});

test('busy is 480 + 620 Hz, half a second on and off, and ends after 6 s', (t) => {
  const { samples, ended } = collect(sounds.play('busy'), 20);
  t.true(ended);
  t.is(samples.length, 6 * S);
  for (let second = 0; second < 6; second += 1) {
    t.true(share(slice(samples, second + 0.02, second + 0.48), [480, 620]) > 0.9);
    t.true(rms(slice(samples, second + 0.52, second + 0.98)) < 1);
  }
});

test('unreachable is the rising 950 / 1400 / 1800 Hz information tone, twice, then ends', (t) => {
  const { samples, ended } = collect(sounds.play('unreachable'), 20);
  t.true(ended);
  t.is(samples.length, Math.ceil((2 * 1.99 * S) / 960) * 960, 'the last frame padded with silence');
  for (const start of [0, 1.99]) {
    t.true(toneShare(slice(samples, start + 0.02, start + 0.31), 950) > 0.9);
    t.true(toneShare(slice(samples, start + 0.35, start + 0.64), 1400) > 0.9);
    t.true(toneShare(slice(samples, start + 0.68, start + 0.97), 1800) > 0.9);
  }
});

test('ended falls from 880 to 587 Hz and door opened rises 1047 / 1319 / 1568 Hz; both are short and end', (t) => {
  const ended = collect(sounds.play('ended'), 5);
  t.true(ended.ended);
  t.true(ended.samples.length <= 0.45 * S + 960);
  t.true(toneShare(slice(ended.samples, 0.01, 0.14), 880) > 0.9);
  t.true(toneShare(slice(ended.samples, 0.21, 0.44), 587.33) > 0.9);
  const door = collect(sounds.play('doorOpened'), 5);
  t.true(door.ended);
  t.true(door.samples.length <= 0.48 * S + 960);
  t.true(toneShare(slice(door.samples, 0.01, 0.11), 1046.5) > 0.9);
  t.true(toneShare(slice(door.samples, 0.13, 0.23), 1318.5) > 0.9);
  t.true(toneShare(slice(door.samples, 0.25, 0.47), 1568) > 0.9);
});

test('no two sounds share a frequency, so each is told apart by frequency alone', (t) => {
  const owners = new Map<number, UnitSoundName>();
  for (const [name, plan] of Object.entries(TONE_PLANS) as [UnitSoundName, (typeof TONE_PLANS)[UnitSoundName]][]) {
    for (const frequency of new Set(plan.segments.flatMap((segment) => segment.frequenciesHz))) {
      // Busy and ringback share 480 Hz as their telephone-network originals do; each pair as a whole is unique.
      if (frequency === 480 && (name === 'busy' || name === 'ringback')) continue;
      t.false(owners.has(frequency), `${frequency} Hz in both ${owners.get(frequency)} and ${name}`);
      owners.set(frequency, name);
    }
  }
  // A slice of busy does not look like ringback and vice versa: the second component decides.
  const busy = collect(sounds.play('busy'), 0.4).samples;
  const ringback = collect(sounds.play('ringback'), 0.4).samples;
  t.true(toneShare(busy, 620) > 0.35 && toneShare(busy, 440) < 0.05);
  t.true(toneShare(ringback, 440) > 0.35 && toneShare(ringback, 620) < 0.05);
});

test('10 ms frames work the same; every frame has the configured size', (t) => {
  const small = new UnitSounds({ frameSamples: 480, ringVolume: 100 });
  for (const name of ['ring', 'busy', 'unreachable', 'ended', 'doorOpened'] as const) {
    const { frameSizes } = collect(small.play(name), 3);
    t.deepEqual([...frameSizes], [480], name);
  }
  t.throws(() => new UnitSounds({ frameSamples: 0, ringVolume: 50 }), { instanceOf: RangeError });
});

test('the ring follows audio.ringVolume: 50 is 12 dB below 100, 0 is silent; the other sounds do not', (t) => {
  const level = (volume: number, name: UnitSoundName) => rms(collect(new UnitSounds({ frameSamples: 960, ringVolume: volume }).play(name), 3).samples);
  t.true(Math.abs(20 * Math.log10(level(50, 'ring') / level(100, 'ring')) + 12.04) < 0.1);
  t.is(level(0, 'ring'), 0);
  t.is(level(10, 'busy'), level(100, 'busy'));
  t.is(volumeGain(150), 1);
  t.is(volumeGain(-5), 0);
});

test('a WAV ring tone of any rate, depth and channel count rings at 48 kHz mono, with a pause between rings, at the ring volume', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-ringtone-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'ring.wav');
  // 0.5 s of 700 Hz at 22.05 kHz, stereo, 24 bit.
  const rate = 22_050;
  const channel = Array.from({ length: rate / 2 }, (_, i) => Math.round(0.5 * 8_388_607 * Math.sin((2 * Math.PI * 700 * i) / rate)));
  const wav = new wavefile.WaveFile();
  wav.fromScratch(2, rate, '24', [channel, channel]);
  writeFileSync(file, wav.toBuffer());

  const tone = await loadRingTone(file);
  t.true(Math.abs(tone.length - S / 2) <= 2, `${tone.length} samples`);
  t.true(toneShare(tone.subarray(2000, 22000), 700) > 0.95);
  const loud = new UnitSounds({ frameSamples: 960, ringVolume: 100, ringTone: tone });
  const { samples, ended } = collect(loud.play('ring'), 4);
  t.false(ended);
  t.true(toneShare(slice(samples, 0.05, 0.45), 700) > 0.95);
  t.true(rms(slice(samples, 0.55, 1.45)) < 1, 'a second of silence after the tone');
  t.true(toneShare(slice(samples, 1.55, 1.95), 700) > 0.95, 'and again');
  const quiet = collect(new UnitSounds({ frameSamples: 960, ringVolume: 50, ringTone: tone }).play('ring'), 0.4).samples;
  t.true(Math.abs(20 * Math.log10(rms(quiet) / rms(slice(samples, 0, 0.4))) + 12.04) < 0.2);

  // 44.1 kHz mono 32-bit float and 48 kHz 16-bit need no other handling.
  for (const [rateHz, depth, scale] of [[44_100, '32f', 0.5], [48_000, '16', 16_000]] as const) {
    const other = path.join(dir, `ring-${rateHz}-${depth}.wav`);
    const file = new wavefile.WaveFile();
    file.fromScratch(1, rateHz, depth, Array.from({ length: rateHz / 4 }, (_, i) => scale * Math.sin((2 * Math.PI * 1200 * i) / rateHz)));
    writeFileSync(other, file.toBuffer());
    const read = await loadRingTone(other);
    t.true(Math.abs(read.length - S / 4) <= 2, `${depth}: ${read.length} samples`);
    t.true(toneShare(read.subarray(500, 11000), 1200) > 0.95, depth);
  }
});

test('a missing or broken ring tone file is refused naming audio.ringTone', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-ringtone-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await t.throwsAsync(loadRingTone(path.join(dir, 'none.wav')), { message: /^audio\.ringTone: .*none\.wav does not exist$/ });
  const garbage = path.join(dir, 'garbage.wav');
  writeFileSync(garbage, 'this is not a wav file at all');
  await t.throwsAsync(loadRingTone(garbage), { message: /^audio\.ringTone: .*garbage\.wav is not a readable WAV file/ });
  await t.throwsAsync(loadRingTone(dir), { message: /^audio\.ringTone: .* cannot be read/ });
  const long = new wavefile.WaveFile();
  long.fromScratch(1, 8000, '16', new Array(8000 * 61).fill(0));
  writeFileSync(path.join(dir, 'long.wav'), long.toBuffer());
  await t.throwsAsync(loadRingTone(path.join(dir, 'long.wav')), { message: /^audio\.ringTone: .*long\.wav lasts 61 s; a ring tone may last at most 60 s$/ });
});

test('mixInto adds a sound into a playback frame, saturating instead of wrapping', (t) => {
  const frame = Int16Array.from([1000, 30000, -30000, 0]);
  mixInto(frame, Int16Array.from([500, 10000, -10000, -7]));
  t.deepEqual([...frame], [1500, 32767, -32768, -7]);
});
