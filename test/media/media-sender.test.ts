import test from 'ava';
import { l16Codec } from '../../src/codec/l16.js';
import { pcmLeCodec } from '../../src/codec/pcm-le.js';
import { MediaSender } from '../../src/media/media-sender.js';
import { rtpPacketFormat, seedPacketFormat } from '../../src/media/packet-format.js';
import { parseRtp } from '../../src/media/rtp-packet.js';
import { tone } from '../support/media-simulation.js';

const FRAME = 960;

test('the sender numbers and timestamps RTP packets, wrapping sequence and timestamp', (t) => {
  const sender = new MediaSender({
    encoder: l16Codec.createEncoder({ frameSamples: FRAME, bitrate: 0 }),
    packetFormat: rtpPacketFormat(96),
    frameSamples: FRAME,
    ssrc: 0x01020304,
    initialSequence: 65534,
    initialTimestamp: 2 ** 32 - FRAME,
  });
  const frame = tone(FRAME, 1000);
  const packets = [0, 1, 2].map(() => {
    const result = parseRtp(sender.sendFrame(frame), 96);
    if (!result.ok) throw new Error(result.reason);
    return result.packet;
  });
  t.deepEqual(packets.map((packet) => packet.sequence), [65534, 65535, 0]);
  t.deepEqual(packets.map((packet) => packet.timestamp), [2 ** 32 - FRAME, 0, FRAME]);
  t.deepEqual(packets.map((packet) => packet.marker), [true, false, false]);
  t.true(packets.every((packet) => packet.ssrc === 0x01020304 && packet.payload.length === FRAME * 2));
  t.is(sender.packetsSent, 3);
});

test('the sender writes seed datagrams of the original size', (t) => {
  const sender = new MediaSender({
    encoder: pcmLeCodec.createEncoder({ frameSamples: FRAME, bitrate: 0 }),
    packetFormat: seedPacketFormat(FRAME),
    frameSamples: FRAME,
    ssrc: 0,
    initialSequence: 65535,
    initialTimestamp: 0,
  });
  const first = sender.sendFrame(tone(FRAME, 1000));
  const second = sender.sendFrame(tone(FRAME, 1000));
  t.is(first.length, 2 + FRAME * 2);
  t.is(first.readUInt16LE(0), 65535);
  t.is(second.readUInt16LE(0), 0);
});

test('the sender refuses a frame of the wrong size', (t) => {
  const sender = new MediaSender({
    encoder: l16Codec.createEncoder({ frameSamples: FRAME, bitrate: 0 }),
    packetFormat: rtpPacketFormat(96),
    frameSamples: FRAME,
    ssrc: 1,
    initialSequence: 0,
    initialTimestamp: 0,
  });
  t.throws(() => sender.sendFrame(new Int16Array(480)), { instanceOf: RangeError });
});

test('given the capture position of each frame, the RTP timestamp follows the capture clock: frames the device lost leave a gap in media time, not in sequence', (t) => {
  const sender = new MediaSender({
    encoder: l16Codec.createEncoder({ frameSamples: FRAME, bitrate: 0 }),
    packetFormat: rtpPacketFormat(96),
    frameSamples: FRAME,
    ssrc: 7,
    initialSequence: 10,
    initialTimestamp: 1000,
  });
  const frame = tone(FRAME, 1000);
  // Positions as a capture device counts them: the service missed three frames after the second.
  const packets = [48_000, 48_960, 52_800, 53_760].map((position) => {
    const result = parseRtp(sender.sendFrame(frame, position), 96);
    if (!result.ok) throw new Error(result.reason);
    return result.packet;
  });
  t.deepEqual(packets.map((packet) => packet.sequence), [10, 11, 12, 13]);
  t.deepEqual(packets.map((packet) => packet.timestamp), [1000, 1960, 5800, 6760]);
});
