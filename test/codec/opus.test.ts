import test from 'ava';
import { frameSamplesFor, type CodecOptions, type Decoder } from '../../src/codec/codec.js';
import { createOpusCodec, opusCodec, opusLibraryVersion, opusPacketHasFec } from '../../src/codec/opus.js';
import { seededRandom } from '../support/seeded-random.js';

const FRAME_20MS = frameSamplesFor(20);
const FRAME_10MS = frameSamplesFor(10);


/**
 * A speech-like test signal: a voiced source (harmonics of a gliding 100-220 Hz pitch with a
 * falling spectral tilt and two moving formant peaks), syllable-rate loudness (~4 Hz), a short
 * pause every ~3 s, and a little breath noise. Not speech, but it exercises Opus's speech paths (VAD, SILK,
 * LBRR) the way a voice does.
 */
function speechLike(totalSamples: number, seed = 1): Int16Array {
  const random = seededRandom(seed);
  const out = new Int16Array(totalSamples);
  let phase = 0;
  for (let i = 0; i < totalSamples; i++) {
    const t = i / 48_000;
    const pitch = 160 + 60 * Math.sin(2 * Math.PI * 0.9 * t) * Math.sin(2 * Math.PI * 0.23 * t + 1);
    phase += (2 * Math.PI * pitch) / 48_000;
    const formant1 = 500 + 250 * Math.sin(2 * Math.PI * 2.1 * t);
    const formant2 = 1500 + 600 * Math.sin(2 * Math.PI * 1.3 * t + 0.5);
    let voiced = 0;
    for (let harmonic = 1; harmonic * pitch < 4000; harmonic++) {
      const frequency = harmonic * pitch;
      const emphasis =
        1 / (1 + ((frequency - formant1) / 150) ** 2) + 0.6 / (1 + ((frequency - formant2) / 250) ** 2) + 0.05;
      voiced += (emphasis / Math.sqrt(harmonic)) * Math.sin(harmonic * phase);
    }
    // ~4 syllables a second that swell and fade: Opus's voice detector needs that contrast to
    // treat the signal as speech (a steady tone drifts into its noise estimate).
    const syllable = Math.sin(2 * Math.PI * 2 * t) ** 2;
    const phrase = Math.sin(2 * Math.PI * 0.35 * t) > -0.8 ? 1 : 0; // a short pause every ~3 s
    const breath = (random() - 0.5) * 0.05;
    out[i] = Math.round(9000 * (syllable * phrase * voiced + breath));
  }
  return out;
}

function framesOf(signal: Int16Array, frameSamples: number): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let start = 0; start + frameSamples <= signal.length; start += frameSamples) {
    frames.push(signal.subarray(start, start + frameSamples));
  }
  return frames;
}

function concat(frames: Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((sum, frame) => sum + frame.length, 0));
  let offset = 0;
  for (const frame of frames) {
    out.set(frame, offset);
    offset += frame.length;
  }
  return out;
}

/** Normalised correlation of `reference[i]` with `decoded[i + lag]` over the overlap. */
function correlationAtLag(reference: Int16Array, decoded: Int16Array, lag: number): number {
  let cross = 0;
  let referenceEnergy = 0;
  let decodedEnergy = 0;
  for (let i = 0; i + lag < decoded.length && i < reference.length; i++) {
    const a = reference[i];
    const b = decoded[i + lag];
    cross += a * b;
    referenceEnergy += a * a;
    decodedEnergy += b * b;
  }
  return cross / Math.sqrt(referenceEnergy * decodedEnergy);
}

/** Opus delays its output by its look-ahead; find that delay as the lag of best correlation. */
function bestAlignment(reference: Int16Array, decoded: Int16Array, maxLag: number): { lag: number; correlation: number } {
  let best = { lag: 0, correlation: -Infinity };
  for (let lag = 0; lag <= maxLag; lag++) {
    const correlation = correlationAtLag(reference, decoded, lag);
    if (correlation > best.correlation) best = { lag, correlation };
  }
  return best;
}

function errorEnergy(expected: Int16Array, actual: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < expected.length; i++) sum += (expected[i] - actual[i]) ** 2;
  return sum;
}

function energy(signal: Int16Array): number {
  let sum = 0;
  for (const sample of signal) sum += sample * sample;
  return sum;
}

/** Louder than the breath noise alone (RMS ~130): a frame Opus's voice detector treats as speech. */
function isActive(frame: Int16Array): boolean {
  return Math.sqrt(energy(frame) / frame.length) > 1000;
}

function encodeAll(frames: Int16Array[], options: CodecOptions): Uint8Array[] {
  const encoder = opusCodec.createEncoder(options);
  try {
    return frames.map((frame) => encoder.encode(frame));
  } finally {
    encoder.close();
  }
}

function decodeAll(decoder: Decoder, packets: Uint8Array[]): Int16Array[] {
  return packets.map((packet) => decoder.decode(packet));
}

const OPTIONS_32K: CodecOptions = { frameSamples: FRAME_20MS, bitrate: 32_000 };

test('reports the system libopus version and the codec contract', (t) => {
  t.regex(opusLibraryVersion(), /^libopus \d+\.\d+/);
  t.is(opusCodec.name, 'opus');
  const decoder = opusCodec.createDecoder(OPTIONS_32K);
  t.true(decoder.canRecoverFromNext);
  decoder.close();
});

test('a speech-like signal survives a 32 kbit/s round trip, time-aligned', (t) => {
  const signal = speechLike(48_000 * 4);
  const packets = encodeAll(framesOf(signal, FRAME_20MS), OPTIONS_32K);
  const decoder = opusCodec.createDecoder(OPTIONS_32K);
  const decodedFrames = decodeAll(decoder, packets);
  decoder.close();
  t.true(decodedFrames.every((frame) => frame.length === FRAME_20MS));
  const { lag, correlation } = bestAlignment(signal, concat(decodedFrames), FRAME_20MS);
  t.log(`lag ${lag} samples (${(lag / 48).toFixed(2)} ms), correlation ${correlation.toFixed(4)}`);
  t.true(correlation > 0.9, `correlation ${correlation}`);
  // A decoder that returned silence or noise would sit near zero; a wrong delay would too.
  t.true(lag > 0 && lag < FRAME_20MS / 2, `lag ${lag}`);
});

test('mean packet size follows the configured bitrate', (t) => {
  const frames = framesOf(speechLike(48_000 * 6, 2), FRAME_20MS);
  for (const bitrate of [24_000, 32_000]) {
    const packets = encodeAll(frames, { frameSamples: FRAME_20MS, bitrate });
    const meanBytes = packets.reduce((sum, packet) => sum + packet.length, 0) / packets.length;
    const targetBytes = (bitrate * 0.02) / 8;
    t.log(`${bitrate} bit/s: mean ${meanBytes.toFixed(1)} B per 20 ms (target ${targetBytes} B)`);
    // Opus is VBR: a steady test signal spends a bit less than the target, never far more.
    t.true(meanBytes > targetBytes * 0.75 && meanBytes < targetBytes * 1.15, `${meanBytes} B at ${bitrate}`);
  }
});

test('concealment returns exactly one frame, for 20 ms and 10 ms', (t) => {
  const decoder = opusCodec.createDecoder(OPTIONS_32K);
  t.is(decoder.conceal(FRAME_20MS).length, FRAME_20MS); // before any packet
  const packets = encodeAll(framesOf(speechLike(FRAME_20MS * 10), FRAME_20MS), OPTIONS_32K);
  decodeAll(decoder, packets);
  const concealed = decoder.conceal(FRAME_20MS);
  t.is(concealed.length, FRAME_20MS);
  t.true(energy(concealed) > 0, 'concealment continues the signal instead of silence');
  t.is(decoder.conceal(FRAME_10MS).length, FRAME_10MS);
  t.is(decoder.decode(packets[0]).length, FRAME_20MS, 'decoding resumes after concealment');
  t.throws(() => decoder.conceal(100), { instanceOf: RangeError });
  decoder.close();
});

/**
 * Loses every 7th packet (one at a time, so each loss has its successor) and rebuilds the lost
 * frame from the next packet's FEC on one decoder and by concealment on another; both compare
 * against what the decoder produced from the packet that was lost. Only losses of active frames
 * count: libopus sends no FEC for silence, and losing silence costs nothing.
 */
function measureLossRecovery(frames: Int16Array[], packets: Uint8Array[], frameSamples: number) {
  const referenceDecoder = opusCodec.createDecoder(OPTIONS_32K);
  const reference = decodeAll(referenceDecoder, packets);
  referenceDecoder.close();
  let fecError = 0;
  let concealError = 0;
  let referenceEnergy = 0;
  let recovered = 0;
  let losses = 0;
  for (let lost = 10; lost < packets.length - 1; lost += 7) {
    if (!isActive(frames[lost])) continue;
    losses++;
    const withFec = opusCodec.createDecoder(OPTIONS_32K);
    const withConcealment = opusCodec.createDecoder(OPTIONS_32K);
    for (let i = 0; i < lost; i++) {
      withFec.decode(packets[i]);
      withConcealment.decode(packets[i]);
    }
    const rebuilt = withFec.recoverFromNext(packets[lost + 1], frameSamples);
    const concealed = withConcealment.conceal(frameSamples);
    withFec.close();
    withConcealment.close();
    if (rebuilt === null) continue;
    recovered++;
    fecError += errorEnergy(reference[lost], rebuilt);
    concealError += errorEnergy(reference[lost], concealed);
    referenceEnergy += energy(reference[lost]);
  }
  return {
    losses,
    recovered,
    fecSnrDb: 10 * Math.log10(referenceEnergy / fecError),
    concealSnrDb: 10 * Math.log10(referenceEnergy / concealError),
  };
}

test('in-band FEC rebuilds a lost frame far better than concealment (default 10% expected loss)', (t) => {
  const frames = framesOf(speechLike(48_000 * 6, 3), FRAME_20MS);
  const packets = encodeAll(frames, OPTIONS_32K);
  // libopus sends FEC only for frames its voice detector found active, as in a pause in speech.
  const afterActiveFrame = packets.filter((_, i) => i > 0 && isActive(frames[i - 1]));
  const withFec = afterActiveFrame.filter((packet) => opusPacketHasFec(packet)).length;
  t.log(`${withFec}/${afterActiveFrame.length} packets after an active frame carry FEC (${packets.length} in all)`);
  t.true(withFec > afterActiveFrame.length * 0.9, `${withFec} of ${afterActiveFrame.length} packets carry FEC`);

  const result = measureLossRecovery(frames, packets, FRAME_20MS);
  t.log(
    `recovered ${result.recovered}/${result.losses}; SNR against the lost frame: ` +
      `FEC ${result.fecSnrDb.toFixed(1)} dB, concealment ${result.concealSnrDb.toFixed(1)} dB`,
  );
  t.true(result.losses >= 20);
  t.true(result.recovered >= result.losses * 0.9, `${result.recovered} of ${result.losses} recovered`);
  t.true(result.fecSnrDb > result.concealSnrDb + 6, JSON.stringify(result));
  t.true(result.fecSnrDb > 8, JSON.stringify(result));
});

test('in-band FEC works with 10 ms frames', (t) => {
  const options: CodecOptions = { frameSamples: FRAME_10MS, bitrate: 32_000 };
  const frames = framesOf(speechLike(48_000 * 4, 4), FRAME_10MS);
  const packets = encodeAll(frames, options);
  const result = measureLossRecovery(frames, packets, FRAME_10MS);
  t.log(
    `10 ms: recovered ${result.recovered}/${result.losses}; ` +
      `FEC ${result.fecSnrDb.toFixed(1)} dB, concealment ${result.concealSnrDb.toFixed(1)} dB`,
  );
  t.true(result.losses >= 20);
  t.true(result.recovered >= result.losses * 0.9, `${result.recovered} of ${result.losses} recovered`);
  t.true(result.fecSnrDb > result.concealSnrDb + 6, JSON.stringify(result));
});

test('recoverFromNext returns null when the next packet carries no FEC', (t) => {
  const frames = framesOf(speechLike(48_000, 5), FRAME_20MS);
  const packets = encodeAll(frames, { ...OPTIONS_32K, expectedLossPercent: 0 });
  t.is(packets.filter((packet) => opusPacketHasFec(packet)).length, 0, 'no loss expected, no FEC sent');
  const decoder = opusCodec.createDecoder(OPTIONS_32K);
  decodeAll(decoder, packets.slice(0, 20));
  t.is(decoder.recoverFromNext(packets[21], FRAME_20MS), null);
  t.is(decoder.conceal(FRAME_20MS).length, FRAME_20MS);
  t.is(decoder.decode(packets[21]).length, FRAME_20MS);
  decoder.close();
});

test('10 ms frames round-trip at half the bytes of 20 ms frames', (t) => {
  const signal = speechLike(48_000 * 3, 6);
  const options: CodecOptions = { frameSamples: FRAME_10MS, bitrate: 32_000 };
  const packets = encodeAll(framesOf(signal, FRAME_10MS), options);
  const meanBytes = packets.reduce((sum, packet) => sum + packet.length, 0) / packets.length;
  t.true(meanBytes > 30 && meanBytes < 46, `mean ${meanBytes} B per 10 ms`);
  const decoder = opusCodec.createDecoder(options);
  const decoded = decodeAll(decoder, packets);
  decoder.close();
  t.true(decoded.every((frame) => frame.length === FRAME_10MS));
  const { correlation } = bestAlignment(signal, concat(decoded), FRAME_20MS);
  t.log(`10 ms: mean ${meanBytes.toFixed(1)} B, correlation ${correlation.toFixed(4)}`);
  t.true(correlation > 0.9, `correlation ${correlation}`);
});

test('malformed payloads throw a JS Error and the decoder keeps working', (t) => {
  const signal = speechLike(48_000 * 2, 7);
  const packets = encodeAll(framesOf(signal, FRAME_20MS), OPTIONS_32K);
  const decoder = opusCodec.createDecoder(OPTIONS_32K);
  decodeAll(decoder, packets.slice(0, 10));

  const invalid = [
    Uint8Array.of(0xff, 0xff, 0xff), // code 3 with an impossible frame count
    new Uint8Array(2000).fill(0xfc), // frame lengths past the end of the packet
    Uint8Array.of(0x01, 0xff), // code 1: two equal frames from an odd remainder
  ];
  for (const payload of invalid) {
    t.throws(() => decoder.decode(payload), { instanceOf: Error, message: /corrupted stream|invalid/ });
    t.throws(() => decoder.recoverFromNext(payload, FRAME_20MS), { instanceOf: Error });
    t.throws(() => opusPacketHasFec(payload), { instanceOf: Error });
  }
  t.throws(() => decoder.decode(new Uint8Array(0)), { instanceOf: RangeError });
  t.throws(() => decoder.decode('not bytes' as unknown as Uint8Array), { instanceOf: TypeError });
  t.throws(() => decoder.decode(new Int16Array(4) as unknown as Uint8Array), { instanceOf: TypeError });

  // Random bytes: libopus rejects those it can tell are malformed and decodes the rest as noise.
  const random = seededRandom(99);
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const payload = new Uint8Array(1 + Math.floor(random() * 400));
    for (let j = 0; j < payload.length; j++) payload[j] = Math.floor(random() * 256);
    try {
      const pcm = decoder.decode(payload);
      t.true(pcm.length % 120 === 0 && pcm.length <= 5760, `decoded ${pcm.length} samples`);
    } catch (error) {
      t.true(error instanceof Error);
      rejected++;
    }
  }
  t.log(`${rejected} of 3000 random payloads rejected, the rest decoded as noise`);
  t.true(rejected > 0);

  // The decoder settles back onto the real stream within a few frames.
  const decoded = decodeAll(decoder, packets.slice(10)).slice(5);
  const reference = signal.subarray((10 + 5) * FRAME_20MS);
  const { correlation } = bestAlignment(reference, concat(decoded), FRAME_20MS);
  t.true(correlation > 0.9, `correlation after garbage ${correlation}`);
  decoder.close();
});

test('encoder rejects frames of the wrong size and unsupported settings', (t) => {
  t.throws(() => opusCodec.createEncoder({ frameSamples: 1000, bitrate: 32_000 }), { instanceOf: RangeError });
  t.throws(() => opusCodec.createEncoder({ frameSamples: FRAME_20MS, bitrate: 1000 }), { instanceOf: RangeError });
  t.throws(() => opusCodec.createEncoder({ ...OPTIONS_32K, expectedLossPercent: 101 }), { instanceOf: RangeError });
  t.throws(() => createOpusCodec({ complexity: 11 }).createEncoder(OPTIONS_32K), { instanceOf: RangeError });
  const encoder = createOpusCodec({ complexity: 5 }).createEncoder(OPTIONS_32K);
  t.throws(() => encoder.encode(new Int16Array(FRAME_10MS)), { instanceOf: RangeError });
  t.true(encoder.encode(new Int16Array(FRAME_20MS)).length > 0);
  encoder.close();
});

test('a closed encoder or decoder throws instead of crashing; closing twice is harmless', (t) => {
  const encoder = opusCodec.createEncoder(OPTIONS_32K);
  const packet = encoder.encode(speechLike(FRAME_20MS));
  encoder.close();
  encoder.close();
  t.throws(() => encoder.encode(new Int16Array(FRAME_20MS)), { instanceOf: Error, message: /closed/ });

  const decoder = opusCodec.createDecoder(OPTIONS_32K);
  decoder.close();
  decoder.close();
  t.throws(() => decoder.decode(packet), { message: /closed/ });
  t.throws(() => decoder.recoverFromNext(packet, FRAME_20MS), { message: /closed/ });
  t.throws(() => decoder.conceal(FRAME_20MS), { message: /closed/ });
});
