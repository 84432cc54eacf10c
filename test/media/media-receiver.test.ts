import test from 'ava';
import { l16Codec } from '../../src/codec/l16.js';
import { pcmLeCodec } from '../../src/codec/pcm-le.js';
import type { Codec } from '../../src/codec/codec.js';
import { MediaReceiver } from '../../src/media/media-receiver.js';
import { MediaSender } from '../../src/media/media-sender.js';
import { rtpPacketFormat, type PacketFormat } from '../../src/media/packet-format.js';
import { packetFormatFor } from '../../src/media/wire-format.js';
import { FRAME_MS, FRAME_SAMPLES, runVirtualCall, seededRandom, tone } from '../support/media-simulation.js';

const codecOptions = { frameSamples: FRAME_SAMPLES, bitrate: 0 };

function endToEnd(codec: Codec, senderFormat: PacketFormat, receiverFormat: PacketFormat, frames: number) {
  const sender = new MediaSender({
    encoder: codec.createEncoder(codecOptions),
    packetFormat: senderFormat,
    frameSamples: FRAME_SAMPLES,
    ssrc: 0x5eed,
    initialSequence: 65_530,
    initialTimestamp: 4_000_000_000,
  });
  const receiver = new MediaReceiver({
    decoder: codec.createDecoder(codecOptions),
    packetFormat: receiverFormat,
    frameSamples: FRAME_SAMPLES,
    minMs: 20,
    maxMs: 400,
  });
  const sent = tone(frames * FRAME_SAMPLES, 12_000, 300, 77); // starts non-zero
  const datagrams = Array.from({ length: frames }, (_, i) => sender.sendFrame(sent.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)));
  const played: number[] = [];
  runVirtualCall({
    frames,
    network: (_frame, sendMs) => [sendMs + 3],
    deliver: (frame, arrivalMs) => receiver.receiveDatagram(datagrams[frame], arrivalMs),
    read: (nowMs) => played.push(...receiver.readFrame(nowMs)),
  });
  return { sent, played, receiver };
}

for (const [name, codec, format] of [
  ['RTP L16', l16Codec, 'rtp-l16'],
  ['the seed format', pcmLeCodec, 'seed'],
] as const) {
  test(`audio sent as ${name} comes out unchanged, only delayed`, (t) => {
    const { sent, played, receiver } = endToEnd(codec, packetFormatFor(format, FRAME_SAMPLES), packetFormatFor(format, FRAME_SAMPLES), 150);
    const start = played.findIndex((sample) => sample !== 0);
    t.true(start > 0 && start % FRAME_SAMPLES === 0);
    t.deepEqual(Int16Array.from(played.slice(start, start + sent.length)), sent);
    t.like(receiver.stats(), { packetsReceived: 150, packetsLost: 0, packetsMalformed: 0, timeScaledMs: 0 });
    t.true(start / 48 >= 20 && start / 48 <= 60, `first audio after ${start / 48} ms`);
  });
}

test('malformed datagrams are counted and never throw; a garbage payload is concealed', (t) => {
  const format = rtpPacketFormat(96);
  const receiver = new MediaReceiver({ decoder: l16Codec.createDecoder(codecOptions), packetFormat: format, frameSamples: FRAME_SAMPLES, minMs: 20, maxMs: 400 });
  const sender = new MediaSender({ encoder: l16Codec.createEncoder(codecOptions), packetFormat: format, frameSamples: FRAME_SAMPLES, ssrc: 9, initialSequence: 0, initialTimestamp: 0 });
  const random = seededRandom(3);
  let nowMs = 0;
  let garbage = 0;
  for (let frame = 0; frame < 100; frame++) {
    const datagram = sender.sendFrame(tone(FRAME_SAMPLES, 3000));
    if (frame === 40) {
      // right header, odd-length payload: parses, but the decoder rejects it
      receiver.receiveDatagram(datagram.subarray(0, datagram.length - 1), nowMs);
    } else {
      receiver.receiveDatagram(datagram, nowMs);
    }
    if (frame % 10 === 5) {
      const noise = Uint8Array.from({ length: Math.floor(random() * 60) }, () => Math.floor(random() * 256));
      receiver.receiveDatagram(noise, nowMs);
      garbage++;
    }
    nowMs += FRAME_MS;
    t.is(receiver.readFrame(nowMs).length, FRAME_SAMPLES);
  }
  const stats = receiver.stats();
  t.is(stats.packetsMalformed, garbage + 1);
  t.is(stats.packetsReceived, 100);
  t.true(stats.concealedMs >= FRAME_MS);
});

test('with an expected SSRC, a stranger\'s stream is counted as malformed and not played', (t) => {
  const format = rtpPacketFormat(96);
  const receiver = new MediaReceiver({ decoder: l16Codec.createDecoder(codecOptions), packetFormat: format, frameSamples: FRAME_SAMPLES, minMs: 20, maxMs: 400, expectedSsrc: 1 });
  const stranger = new MediaSender({ encoder: l16Codec.createEncoder(codecOptions), packetFormat: format, frameSamples: FRAME_SAMPLES, ssrc: 2, initialSequence: 0, initialTimestamp: 0 });
  for (let frame = 0; frame < 20; frame++) {
    receiver.receiveDatagram(stranger.sendFrame(tone(FRAME_SAMPLES, 3000)), frame * FRAME_MS);
    t.true(receiver.readFrame(frame * FRAME_MS + 7).every((sample) => sample === 0));
  }
  t.like(receiver.stats(), { packetsMalformed: 20, packetsReceived: 0 });
  t.is(receiver.lastPacketArrivalMs, null);
});
