/**
 * Opus throughput on one core: frames per second for encode, decode, and both, as a receive and a
 * send path would spend them. Run: npx tsx bench/codec-opus.ts [seconds-per-case]
 */
import { pathToFileURL } from 'node:url';
import { frameSamplesFor } from '../src/codec/codec.js';
import { createOpusCodec, opusLibraryVersion } from '../src/codec/opus.js';

export interface OpusBenchCase {
  frameMs: number;
  bitrate: number;
  /** libopus's default (10 in 1.3) when absent. */
  complexity?: number;
  /** 0 turns the encoder's FEC off in practice, which shows what FEC costs. */
  expectedLossPercent: number;
}

export interface OpusBenchResult {
  frameMs: number;
  bitrate: number;
  complexity: number | 'default';
  expectedLossPercent: number;
  encodePerSecond: number;
  decodePerSecond: number;
  encodeDecodePerSecond: number;
  /** A full-duplex call needs 1000 / frameMs encode+decode pairs a second (one each way). */
  realTimeCallsPerCore: number;
}

/** One second of a voiced, syllable-modulated signal with some noise, repeated as needed. */
function voiceLikeSecond(): Int16Array {
  const samples = new Int16Array(48_000);
  let noise = 12345;
  for (let i = 0; i < samples.length; i++) {
    const t = i / 48_000;
    const pitch = 150 + 40 * Math.sin(2 * Math.PI * 0.8 * t);
    let voiced = 0;
    for (let harmonic = 1; harmonic <= 20; harmonic++) voiced += Math.sin(2 * Math.PI * pitch * harmonic * t) / harmonic;
    noise = (noise * 1103515245 + 12345) & 0x7fffffff;
    const envelope = Math.sin(2 * Math.PI * 2 * t) ** 2;
    samples[i] = Math.round(8000 * envelope * voiced + ((noise / 0x7fffffff) - 0.5) * 300);
  }
  return samples;
}

function timeLoop(seconds: number, step: () => void): number {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 100; i++) step();
    count += 100;
    now = process.hrtime.bigint();
  }
  return count / (Number(now - start) / 1e9);
}

export function runOpusBenchmark(
  { frameMs, bitrate, complexity, expectedLossPercent }: OpusBenchCase,
  secondsPerCase: number,
): OpusBenchResult {
  const frameSamples = frameSamplesFor(frameMs);
  const codec = createOpusCodec({ complexity });
  const options = { frameSamples, bitrate, expectedLossPercent };
  const signal = voiceLikeSecond();
  const frames: Int16Array[] = [];
  for (let start = 0; start + frameSamples <= signal.length; start += frameSamples) {
    frames.push(signal.slice(start, start + frameSamples));
  }
  const primer = codec.createEncoder(options);
  const packets = frames.map((frame) => primer.encode(frame));
  primer.close();

  const encoder = codec.createEncoder(options);
  const decoder = codec.createDecoder(options);
  let index = 0;
  const encodePerSecond = timeLoop(secondsPerCase, () => {
    encoder.encode(frames[index++ % frames.length]);
  });
  const decodePerSecond = timeLoop(secondsPerCase, () => {
    decoder.decode(packets[index++ % packets.length]);
  });
  const encodeDecodePerSecond = timeLoop(secondsPerCase, () => {
    decoder.decode(encoder.encode(frames[index++ % frames.length]));
  });
  encoder.close();
  decoder.close();
  return {
    frameMs,
    bitrate,
    complexity: complexity ?? 'default',
    expectedLossPercent,
    encodePerSecond: Math.round(encodePerSecond),
    decodePerSecond: Math.round(decodePerSecond),
    encodeDecodePerSecond: Math.round(encodeDecodePerSecond),
    realTimeCallsPerCore: Math.floor(encodeDecodePerSecond / (1000 / frameMs)),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const secondsPerCase = Number(process.argv[2] ?? 2);
  const cases: OpusBenchCase[] = [
    { frameMs: 20, bitrate: 32_000, expectedLossPercent: 10 },
    { frameMs: 20, bitrate: 32_000, expectedLossPercent: 0 },
    { frameMs: 20, bitrate: 32_000, expectedLossPercent: 10, complexity: 5 },
    { frameMs: 20, bitrate: 32_000, expectedLossPercent: 10, complexity: 0 },
    { frameMs: 20, bitrate: 24_000, expectedLossPercent: 10 },
    { frameMs: 10, bitrate: 32_000, expectedLossPercent: 10 },
  ];
  const results = cases.map((benchCase) => runOpusBenchmark(benchCase, secondsPerCase));
  process.stdout.write(`${opusLibraryVersion()}\n`);
  console.table(results);
}
