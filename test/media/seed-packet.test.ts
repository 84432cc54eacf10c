import test from 'ava';
import { pcmLeCodec } from '../../src/codec/pcm-le.js';
import { seedPacketFormat } from '../../src/media/packet-format.js';
import { SEED_PAYLOAD_TYPE, SeedPacketParser, serializeSeed } from '../../src/media/seed-packet.js';
import { maxStep, tone } from '../support/media-simulation.js';

const FRAME = 960;

function seedDatagram(sequence: number, samples: Int16Array): Buffer {
  const datagram = Buffer.alloc(2 + samples.length * 2);
  datagram.writeUInt16LE(sequence, 0);
  samples.forEach((sample, i) => datagram.writeInt16LE(sample, 2 + 2 * i));
  return datagram;
}

test('a seed datagram is a little-endian u16 sequence followed by little-endian samples', (t) => {
  const samples = tone(FRAME, 5000);
  samples[0] = 0x1234;
  const parser = new SeedPacketParser(FRAME);
  const result = parser.parse(seedDatagram(0xabcd, samples));
  t.true(result.ok);
  if (!result.ok) return;
  t.is(result.packet.sequence, 0xabcd);
  t.is(result.packet.ssrc, 0);
  t.is(result.packet.payloadType, SEED_PAYLOAD_TYPE);
  t.deepEqual([...result.packet.payload.subarray(0, 2)], [0x34, 0x12]);
  const decoded = pcmLeCodec.createDecoder({ frameSamples: FRAME, bitrate: 0 }).decode(result.packet.payload);
  t.deepEqual(decoded, samples);
});

test('serialising through the seed format gives the original byte layout', (t) => {
  const samples = tone(FRAME, 3000);
  const encoder = pcmLeCodec.createEncoder({ frameSamples: FRAME, bitrate: 0 });
  const format = seedPacketFormat(FRAME);
  const datagram = format.serialize({ ssrc: 0, sequence: 513, timestamp: 0, payloadType: -1, marker: false, payload: encoder.encode(samples) });
  t.deepEqual(datagram, seedDatagram(513, samples));
  t.deepEqual(serializeSeed({ ssrc: 0, sequence: 513, timestamp: 0, payloadType: -1, marker: false, payload: encoder.encode(samples) }), datagram);
});

test('a seed datagram of the wrong length is rejected', (t) => {
  const parser = new SeedPacketParser(FRAME);
  for (const length of [0, 1, 2, 2 + FRAME * 2 - 1, 2 + FRAME * 2 + 2, 2 + 480 * 2]) {
    const result = parser.parse(new Uint8Array(length));
    t.false(result.ok, `length ${length}`);
  }
  t.true(parser.parse(new Uint8Array(2 + FRAME * 2)).ok);
});

test('derived timestamps keep increasing by one frame across the 16-bit sequence wrap', (t) => {
  const parser = new SeedPacketParser(FRAME);
  const silence = new Int16Array(FRAME);
  const timestamps: number[] = [];
  for (let i = 0; i < 10; i++) {
    const result = parser.parse(seedDatagram((65530 + i) & 0xffff, silence));
    if (!result.ok) return t.fail(result.reason);
    timestamps.push(result.packet.timestamp);
  }
  for (let i = 1; i < timestamps.length; i++) t.is((timestamps[i] - timestamps[i - 1]) >>> 0, FRAME);
  // a reordered packet from before the wrap still gets its earlier timestamp
  const late = parser.parse(seedDatagram(65533, silence));
  t.true(late.ok && late.packet.timestamp === timestamps[3]);
});

test('the seed codec conceals a lost frame with silence, ramped down from the last sample', (t) => {
  const decoder = pcmLeCodec.createDecoder({ frameSamples: FRAME, bitrate: 0 });
  const encoder = pcmLeCodec.createEncoder({ frameSamples: FRAME, bitrate: 0 });
  const loud = new Int16Array(FRAME).fill(20_000);
  decoder.decode(encoder.encode(loud));
  const concealed = decoder.conceal(FRAME);
  t.is(concealed.length, FRAME);
  t.true(maxStep([20_000, ...concealed]) < 500);
  t.true(concealed.subarray(96).every((sample) => sample === 0));
  t.true(decoder.conceal(FRAME).every((sample) => sample === 0));
});

test('the seed codec rejects odd-length payloads and wrong-size frames', (t) => {
  const decoder = pcmLeCodec.createDecoder({ frameSamples: FRAME, bitrate: 0 });
  t.throws(() => decoder.decode(new Uint8Array(3)), { instanceOf: RangeError });
  const encoder = pcmLeCodec.createEncoder({ frameSamples: FRAME, bitrate: 0 });
  t.throws(() => encoder.encode(new Int16Array(FRAME - 1)), { instanceOf: RangeError });
});
