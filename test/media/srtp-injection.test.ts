import test from 'ava';
import { pino } from 'pino';
import { CallAudio } from '../../src/streaming/call-audio.js';
import { UdpTransport } from '../../src/net/udp-transport.js';
import { MemoryAudioBackend } from '../../src/audio/memory-backend.js';
import { createSrtpOffer } from '../../src/media/srtp-negotiation.js';
import { createSrtpContext, parseSrtpKeyParams, srtpPacketFormat } from '../../src/media/srtp.js';
import { MediaSender } from '../../src/media/media-sender.js';
import { rtpPacketFormat } from '../../src/media/packet-format.js';
import { serializeRtp } from '../../src/media/rtp-packet.js';
import { opusCodec } from '../../src/codec/opus.js';
import { toneShare } from '../support/audio-analysis.js';

// An attacker who holds a call's SRTP key (or a sender that glitches) injects one authenticated
// packet whose sequence number lies far ahead of the stream, from the peer's own address, over
// the real media socket of a unit's media engine. Before: the receiver's replay window jumped to
// that packet, every packet of the real stream after it was "too old", and the peer was muted for
// minutes. Now one packet moves nothing: the real stream keeps playing.

const logger = pino({ level: 'silent' });
const settings = { format: 'rtp-opus', frameMs: 20, bitrate: 32_000, complexity: 3, minDelayMs: 20, maxDelayMs: 400 } as const;
const PEER_SSRC = 0x5eed;
const FIRST_SEQUENCE = 1000;

function tone(frequency: number, frameIndex: number): Int16Array {
  const frame = new Int16Array(960);
  for (let i = 0; i < 960; i += 1) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * frequency * (frameIndex * 960 + i)) / 48_000));
  return frame;
}

const until = async (condition: () => boolean, what: string, timeoutMs = 10_000) => {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};

test('one authenticated packet far ahead of the stream does not mute it: the real stream keeps playing', async (t) => {
  let nowMs = 0;
  const backend = new MemoryAudioBackend({ now: () => nowMs });
  const audio = new CallAudio({ settings, captureDevice: 'default', playbackDevice: 'default', backend, logger, now: () => nowMs });
  const transport = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram, from) => audio.onDatagram(datagram, from) });
  audio.attachTransport(transport);
  await audio.openDevices();
  // The peer: its real stream and the injected packet leave from the same address, as a forger's would.
  const peer = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: () => undefined });
  t.teardown(async () => {
    await audio.close();
    await transport.close();
    await peer.close();
  });

  audio.prepare('call');
  const peerOffer = createSrtpOffer();
  audio.start('call', { address: '127.0.0.1', udpPort: peer.localPort, format: 'rtp-opus', ssrc: PEER_SSRC, frameMs: 20, crypto: peerOffer });
  await audio.whenStarted('call');
  const peerKeys = parseSrtpKeyParams(peerOffer.keyParams);
  if (!peerKeys.ok) return t.fail(peerKeys.reason);

  const sender = new MediaSender({
    encoder: opusCodec.createEncoder({ frameSamples: 960, bitrate: 32_000 }),
    packetFormat: srtpPacketFormat(rtpPacketFormat(111), peerKeys.keys),
    frameSamples: 960,
    ssrc: PEER_SSRC,
    initialSequence: FIRST_SEQUENCE,
    initialTimestamp: 0,
  });
  t.teardown(() => sender.close());
  let frame = 0;
  /** One 20 ms frame of the peer's 600 Hz tone over the socket, played out as the device asks for it. */
  const realFrame = async () => {
    const received = audio.stats('call')!.packetsReceived + audio.stats('call')!.packetsMalformed;
    peer.send(sender.sendFrame(tone(600, frame)), transport.localPort, '127.0.0.1');
    frame += 1;
    await until(() => audio.stats('call')!.packetsReceived + audio.stats('call')!.packetsMalformed > received, `frame ${frame} to arrive`);
    nowMs += 20;
    backend.tick(1);
  };

  for (let i = 0; i < 50; i += 1) await realFrame();
  t.is(audio.stats('call')!.packetsReceived, 50);

  // The injected packet: authenticated under the peer's key, same SSRC, 30 000 packets (10 minutes) ahead.
  const injector = createSrtpContext(peerKeys.keys);
  const injected = injector.protect(
    serializeRtp({ payloadType: 111, sequence: (FIRST_SEQUENCE + 30_000) & 0xffff, timestamp: 30_000 * 960, ssrc: PEER_SSRC, marker: false, payload: Buffer.from([0xfc, 0xff, 0xfe]) }),
  );
  const beforeInjection = audio.stats('call')!;
  peer.send(injected, transport.localPort, '127.0.0.1');
  await until(() => {
    const stats = audio.stats('call')!;
    return stats.packetsReceived + stats.packetsMalformed > beforeInjection.packetsReceived + beforeInjection.packetsMalformed;
  }, 'the injected packet to be taken or refused');

  const playedBefore = backend.played.length;
  for (let i = 0; i < 100; i += 1) await realFrame();
  const after = audio.stats('call')!;
  t.log(`after the injection: ${after.packetsReceived - beforeInjection.packetsReceived} packets taken, ${after.packetsMalformed - beforeInjection.packetsMalformed} refused`);
  t.true(after.packetsReceived - beforeInjection.packetsReceived >= 100, 'every real packet after the injected one is still taken');
  const heard = new Int16Array(backend.played.slice(playedBefore + 20).flatMap((played) => Array.from(played.pcm)));
  t.true(toneShare(heard, 600) > 0.8, `the peer's tone still plays (600 Hz share ${toneShare(heard, 600).toFixed(2)})`);
});
