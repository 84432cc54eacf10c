import test from 'ava';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { CallAudio, reopenDelayMs, type CallAudioSettings } from '../../src/streaming/call-audio.js';
import { UdpTransport } from '../../src/net/udp-transport.js';
import { MemoryAudioBackend } from '../../src/audio/memory-backend.js';
import { AlsaEngineBackend } from '../../src/audio/alsa-engine-backend.js';
import { descendants } from '../../bench/support/process-tree.js';
import type { AudioBackend } from '../../src/audio/audio-backend.js';
import type { MediaEndpoint } from '../../src/calls/call-media.js';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { toneShare } from '../support/audio-analysis.js';
import { eventually } from '../support/eventually.js';
import { concatPcm } from '../support/alsa-signal.js';
import { samplesSound } from '../../src/streaming/local-sound.js';
import { createSrtpOffer } from '../../src/media/srtp-negotiation.js';
import { SRTP_SUITE, createSrtpContext, parseSrtpKeyParams, srtpPacketFormat } from '../../src/media/srtp.js';
import { MediaSender } from '../../src/media/media-sender.js';
import { rtpPacketFormat } from '../../src/media/packet-format.js';
import { parseRtp } from '../../src/media/rtp-packet.js';
import { opusCodec } from '../../src/codec/opus.js';

const logger = pino({ level: 'silent' });
const settings = { format: 'rtp-opus', frameMs: 20, bitrate: 32_000, complexity: 3, minDelayMs: 20, maxDelayMs: 400 } as const;

async function engine(backend: AudioBackend | null, device: string, now?: () => number, overrides: Partial<CallAudioSettings> = {}) {
  const audio = new CallAudio({ settings: { ...settings, ...overrides }, captureDevice: device, playbackDevice: device, backend, logger, now });
  const transport = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram, from) => audio.onDatagram(datagram, from) });
  audio.attachTransport(transport);
  await audio.openDevices();
  return {
    audio,
    transport,
    async close() {
      await audio.close();
      await transport.close();
    },
  };
}

const endpointOf = (endpoint: MediaEndpoint): MediaEndpoint => ({ ...endpoint, address: '127.0.0.1' });

function tone(frequency: number, frameIndex: number): Int16Array {
  const frame = new Int16Array(960);
  for (let i = 0; i < 960; i += 1) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * frequency * (frameIndex * 960 + i)) / 48_000));
  return frame;
}

/**
 * Captures `frames` frames on both sides (A a tone at `hzA`, B at `hzB`), waiting after each tick
 * for that frame's datagram to arrive on both sides over the real sockets (played or rejected).
 */
async function talkBothWays(
  a: { audio: CallAudio; backend: MemoryAudioBackend },
  b: { audio: CallAudio; backend: MemoryAudioBackend },
  callId: string,
  tones: { hzA: number; hzB: number; frames: number; advance: () => void },
): Promise<void> {
  let frame = 0;
  a.backend.setCaptureSource(() => tone(tones.hzA, frame));
  b.backend.setCaptureSource(() => tone(tones.hzB, frame));
  for (; frame < tones.frames; frame += 1) {
    const arrived = (audio: CallAudio) => {
      const stats = audio.stats(callId)!;
      return stats.packetsReceived + stats.packetsMalformed;
    };
    const arrivedBefore = [arrived(a.audio), arrived(b.audio)];
    a.backend.tick();
    b.backend.tick();
    tones.advance();
    while (arrived(a.audio) === arrivedBefore[0] || arrived(b.audio) === arrivedBefore[1]) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

test('a call carries audio both ways between two engines over UDP; the speaker is silent between calls', async (t) => {
  let nowMs = 0;
  const backendA = new MemoryAudioBackend({ now: () => nowMs });
  const backendB = new MemoryAudioBackend({ now: () => nowMs });
  const a = await engine(backendA, 'default', () => nowMs);
  const b = await engine(backendB, 'default', () => nowMs);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  t.like(a.audio.audioState(), { available: true, captureDevice: 'default', error: null });
  // Idle: the devices run, but the service is not woken for their frames.
  backendA.tick(10);
  t.is(backendA.serviceWakeups, 0, 'an idle unit is not woken by its sound card');

  const fromA = a.audio.prepare('call-1');
  const fromB = b.audio.prepare('call-1');
  a.audio.start('call-1', endpointOf(fromB));
  b.audio.start('call-1', endpointOf(fromA));
  await Promise.all([a.audio.whenStarted('call-1'), b.audio.whenStarted('call-1')]);

  await talkBothWays({ audio: a.audio, backend: backendA }, { audio: b.audio, backend: backendB }, 'call-1', {
    hzA: 500,
    hzB: 1200,
    frames: 150,
    advance: () => (nowMs += 20),
  });
  const heardOnB = backendB.playedSamples().subarray(-48_000);
  const heardOnA = backendA.playedSamples().subarray(-48_000);
  t.true(toneShare(heardOnB, 500) > 0.8, `B hears A's 500 Hz (${toneShare(heardOnB, 500)})`);
  t.true(toneShare(heardOnA, 1200) > 0.8, `A hears B's 1200 Hz (${toneShare(heardOnA, 1200)})`);
  t.like(b.audio.stats('call-1'), { packetsLost: 0, packetsMalformed: 0 });
  t.is(b.audio.stats('call-1')!.packetsSent, 150);

  a.audio.stop('call-1');
  b.audio.stop('call-1');
  t.is(a.audio.stats('call-1'), null);
  const before = backendA.played.length;
  const wakeupsInCall = backendA.serviceWakeups;
  t.true(wakeupsInCall >= 300, `in the call, the service handled every captured and played frame (${wakeupsInCall})`);
  backendA.tick(10);
  t.true(backendA.played.slice(before).every((played) => played.pcm.every((sample) => sample === 0)), 'silence between calls');
  t.is(backendA.serviceWakeups, wakeupsInCall, 'after the call the service is left alone again');
});

test('datagrams from anyone but the peer are counted and never reach the speaker', async (t) => {
  let nowMs = 0;
  const backend = new MemoryAudioBackend({ now: () => nowMs });
  const unit = await engine(backend, 'default', () => nowMs);
  const stranger = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: () => undefined });
  t.teardown(async () => {
    await unit.close();
    await stranger.close();
  });
  unit.audio.prepare('c');
  unit.audio.start('c', { address: '127.0.0.2', udpPort: 9, format: 'rtp-opus', ssrc: 1234, frameMs: 20, crypto: createSrtpOffer() });
  await unit.audio.whenStarted('c');
  for (let i = 0; i < 20; i += 1) stranger.send(Buffer.from(`not audio ${i}`), unit.transport.localPort, '127.0.0.1');
  while (unit.audio.stats('c')!.packetsMalformed < 20) await new Promise((resolve) => setImmediate(resolve));
  backend.tick(5);
  nowMs += 100;
  t.is(unit.audio.stats('c')!.packetsReceived, 0);
  t.true(backend.played.every((played) => played.pcm.every((sample) => sample === 0)));
});

// Serial: ava runs serial tests before the concurrent ones, so their allocations do not blur this RSS.
test.serial('a thousand calls on the ALSA engine opened once: it runs only during calls, no helper process, memory flat', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic'], speakers: ['spk'] });
  t.teardown(() => alsa.dispose());
  process.env.ALSA_CONFIG_PATH = alsa.env.ALSA_CONFIG_PATH;
  const backend = new AlsaEngineBackend({ logger });
  const audio = new CallAudio({ settings, captureDevice: 'mic', playbackDevice: 'spk', backend, logger });
  const transport = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram, from) => audio.onDatagram(datagram, from) });
  audio.attachTransport(transport);
  await audio.openDevices();
  t.teardown(async () => {
    await audio.close();
    await transport.close();
    await backend.close();
  });
  t.true(audio.audioState().available, JSON.stringify(audio.audioState()));
  const running = () => (audio.deviceStats() as { running: boolean }).running;
  t.false(running(), 'idle: the devices are stopped');
  const peer = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: () => undefined });
  t.teardown(() => peer.close());

  const runCalls = async (count: number, offset: number) => {
    for (let call = offset; call < offset + count; call += 1) {
      const id = `call-${call}`;
      audio.prepare(id);
      audio.start(id, { address: '127.0.0.1', udpPort: peer.localPort, format: 'rtp-opus', ssrc: call + 1, frameMs: 20, crypto: createSrtpOffer() });
      await audio.whenStarted(id);
      if (call % 100 === 0) await eventually('the devices to run during the call', async () => running(), 5_000);
      audio.stop(id);
    }
  };
  await runCalls(200, 0);
  const baseline = process.memoryUsage();
  await runCalls(1000, 200);
  await eventually('the devices to stop after the last call', async () => !running(), 30_000);
  const after = process.memoryUsage();
  const growthMiB = (after.rss - baseline.rss) / 2 ** 20;
  t.log(`RSS ${(baseline.rss / 2 ** 20).toFixed(1)} -> ${(after.rss / 2 ** 20).toFixed(1)} MiB over 1000 calls`);
  t.true(growthMiB < 15, `RSS grew ${growthMiB.toFixed(1)} MiB`);
  const helpers = descendants(process.pid).map((pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return String(pid); } });
  // (tsx's esbuild service is the test runner's, not the unit's)
  t.deepEqual(helpers.filter((command) => !command.includes('esbuild')), [], 'no helper process');
  t.true(audio.audioState().available);
});

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
};

test('call audio is SRTP under the keys each side offered: plain, forged and replayed packets from the peer address are not played', async (t) => {
  let nowMs = 0;
  const backend = new MemoryAudioBackend({ now: () => nowMs });
  const unit = await engine(backend, 'default', () => nowMs);
  const onWire: Buffer[] = [];
  const peer = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram) => onWire.push(datagram) });
  t.teardown(async () => {
    await unit.close();
    await peer.close();
  });
  t.true(unit.audio.audioState().encrypted);
  const local = unit.audio.prepare('c');
  t.is(local.crypto?.suite, SRTP_SUITE);
  t.deepEqual(unit.audio.prepare('c'), local, 'asked again, the same keys');
  const peerOffer = createSrtpOffer();
  const peerSsrc = 4321;
  unit.audio.start('c', { address: '127.0.0.1', udpPort: peer.localPort, format: 'rtp-opus', ssrc: peerSsrc, frameMs: 20, crypto: peerOffer });
  await unit.audio.whenStarted('c');

  // What the unit sends authenticates and decrypts under the keys it offered, and only under those.
  let frame = 0;
  backend.setCaptureSource(() => tone(700, frame++));
  backend.tick(10);
  await until(() => onWire.length >= 10);
  const localKeys = parseSrtpKeyParams(local.crypto!.keyParams);
  if (!localKeys.ok) return t.fail(localKeys.reason);
  const fromUnit = createSrtpContext(localKeys.keys);
  for (const datagram of onWire) {
    const unprotected = fromUnit.unprotect(datagram);
    t.true(unprotected.ok && parseRtp(unprotected.packet, 111).ok && unprotected.packet.readUInt32BE(8) === local.ssrc);
  }
  const peerKeys = parseSrtpKeyParams(peerOffer.keyParams);
  if (!peerKeys.ok) return t.fail(peerKeys.reason);
  t.false(createSrtpContext(peerKeys.keys).unprotect(onWire[0]).ok);

  const senderWith = (format: ReturnType<typeof rtpPacketFormat>) =>
    new MediaSender({ encoder: opusCodec.createEncoder({ frameSamples: 960, bitrate: 32_000 }), packetFormat: format, frameSamples: 960, ssrc: peerSsrc, initialSequence: 100, initialTimestamp: 0 });
  const plain = senderWith(rtpPacketFormat(111));
  const secure = senderWith(srtpPacketFormat(rtpPacketFormat(111), peerKeys.keys));
  t.teardown(() => {
    plain.close();
    secure.close();
  });
  const sendFrom = async (datagrams: Buffer[], expectedCounts: { packetsReceived: number; packetsMalformed: number }) => {
    for (const datagram of datagrams) peer.send(datagram, unit.transport.localPort, '127.0.0.1');
    await until(() => {
      const stats = unit.audio.stats('c')!;
      return stats.packetsReceived + stats.packetsMalformed >= expectedCounts.packetsReceived + expectedCounts.packetsMalformed;
    });
    t.like(unit.audio.stats('c'), expectedCounts);
  };
  // Plain RTP with the right SSRC from the peer's own address: what anyone on the LAN could forge.
  await sendFrom(Array.from({ length: 20 }, (_, i) => plain.sendFrame(tone(300, i))), { packetsReceived: 0, packetsMalformed: 20 });
  nowMs += 200;
  backend.tick(10);
  t.true(backend.played.every((played) => played.pcm.every((sample) => sample === 0)), 'nothing forged was played');
  const genuine = Array.from({ length: 20 }, (_, i) => secure.sendFrame(tone(300, i)));
  await sendFrom(genuine, { packetsReceived: 20, packetsMalformed: 20 });
  await sendFrom(genuine, { packetsReceived: 20, packetsMalformed: 40 }); // replayed
});

test('plain RTP only when both units set audio.srtp false; a mismatch is refused on either side', async (t) => {
  let nowMs = 0;
  const backendA = new MemoryAudioBackend({ now: () => nowMs });
  const backendB = new MemoryAudioBackend({ now: () => nowMs });
  const plainA = await engine(backendA, 'default', () => nowMs, { srtp: false });
  const plainB = await engine(backendB, 'default', () => nowMs, { srtp: false });
  const encrypted = await engine(null, 'default', () => nowMs);
  t.teardown(async () => {
    await plainA.close();
    await plainB.close();
    await encrypted.close();
  });
  t.false(plainA.audio.audioState().encrypted);
  t.true(encrypted.audio.audioState().encrypted);

  const fromA = plainA.audio.prepare('plain');
  const fromB = plainB.audio.prepare('plain');
  t.is(fromA.crypto, undefined);
  plainA.audio.start('plain', endpointOf(fromB));
  plainB.audio.start('plain', endpointOf(fromA));
  await Promise.all([plainA.audio.whenStarted('plain'), plainB.audio.whenStarted('plain')]);
  backendA.setCaptureSource(() => tone(500, 0));
  backendA.tick(10);
  await until(() => plainB.audio.stats('plain')!.packetsReceived >= 10);
  t.is(plainB.audio.stats('plain')!.packetsMalformed, 0);
  plainA.audio.stop('plain');
  plainB.audio.stop('plain');

  const fromPlain = plainA.audio.prepare('mixed');
  const fromEncrypted = encrypted.audio.prepare('mixed');
  t.throws(() => encrypted.audio.start('mixed', endpointOf(fromPlain)), { message: /offers plain RTP but this unit requires SRTP/ });
  t.throws(() => plainA.audio.start('mixed', endpointOf(fromEncrypted)), { message: /requires SRTP but this unit is configured for plain RTP/ });
  t.throws(() => encrypted.audio.start('mixed', endpointOf({ ...fromEncrypted, crypto: { suite: 'AES_256_CM_HMAC_SHA1_80', keyParams: fromEncrypted.crypto!.keyParams } })), {
    message: /suite/,
  });
  t.throws(() => encrypted.audio.start('mixed', endpointOf({ ...fromEncrypted, crypto: { suite: SRTP_SUITE, keyParams: 'inline:short' } })), { message: /keys/ });
  t.throws(() => encrypted.audio.start('mixed', endpointOf(fromEncrypted)), { message: /reflected/ });
});

test('units configured with different audio.format talk both ways: each sends what the other receives (opus and L16, SRTP)', async (t) => {
  let nowMs = 0;
  const backendOpus = new MemoryAudioBackend({ now: () => nowMs });
  const backendL16 = new MemoryAudioBackend({ now: () => nowMs });
  const opus = await engine(backendOpus, 'default', () => nowMs, { format: 'rtp-opus' });
  const l16 = await engine(backendL16, 'default', () => nowMs, { format: 'rtp-l16' });
  t.teardown(async () => {
    await opus.close();
    await l16.close();
  });
  const fromOpus = opus.audio.prepare('mixed');
  const fromL16 = l16.audio.prepare('mixed');
  t.is(fromOpus.format, 'rtp-opus', 'an endpoint announces the format its unit receives');
  t.is(fromL16.format, 'rtp-l16');
  opus.audio.start('mixed', endpointOf(fromL16));
  l16.audio.start('mixed', endpointOf(fromOpus));
  await Promise.all([opus.audio.whenStarted('mixed'), l16.audio.whenStarted('mixed')]);
  t.true(opus.audio.audioState().encrypted && l16.audio.audioState().encrypted);

  await talkBothWays({ audio: opus.audio, backend: backendOpus }, { audio: l16.audio, backend: backendL16 }, 'mixed', {
    hzA: 500,
    hzB: 1200,
    frames: 100,
    advance: () => (nowMs += 20),
  });
  const heardOnL16 = backendL16.playedSamples().subarray(-24_000);
  const heardOnOpus = backendOpus.playedSamples().subarray(-24_000);
  t.true(toneShare(heardOnL16, 500) > 0.8, `the L16 unit hears the opus unit's 500 Hz (${toneShare(heardOnL16, 500)})`);
  t.true(toneShare(heardOnOpus, 1200) > 0.8, `the opus unit hears the L16 unit's 1200 Hz (${toneShare(heardOnOpus, 1200)})`);
  for (const unit of [opus, l16]) t.like(unit.audio.stats('mixed'), { packetsReceived: 100, packetsMalformed: 0, packetsLost: 0 });
});

test('a peer with another audio.frameMs is refused on either side, naming the setting', async (t) => {
  const twenty = await engine(null, 'default', undefined, { frameMs: 20 });
  const ten = await engine(null, 'default', undefined, { frameMs: 10 });
  t.teardown(async () => {
    await twenty.close();
    await ten.close();
  });
  const from20 = twenty.audio.prepare('c');
  const from10 = ten.audio.prepare('c');
  t.throws(() => twenty.audio.start('c', endpointOf(from10)), { message: /the peer uses 10 ms frames and this unit 20 ms.*audio\.frameMs/ });
  t.throws(() => ten.audio.start('c', endpointOf(from20)), { message: /the peer uses 20 ms frames and this unit 10 ms.*audio\.frameMs/ });
  t.is(twenty.audio.stats('c')!.packetsSent, 0);
});

test('the seed format under SRTP is refused whichever side uses it; with audio.srtp false, a seed unit and an L16 unit talk', async (t) => {
  let nowMs = 0;
  const opus = await engine(null, 'default', () => nowMs);
  const seedEncrypted = await engine(null, 'default', () => nowMs, { format: 'seed' });
  const backendSeed = new MemoryAudioBackend({ now: () => nowMs });
  const backendL16 = new MemoryAudioBackend({ now: () => nowMs });
  const seedPlain = await engine(backendSeed, 'default', () => nowMs, { format: 'seed', srtp: false });
  const l16Plain = await engine(backendL16, 'default', () => nowMs, { format: 'rtp-l16', srtp: false });
  t.teardown(async () => {
    for (const unit of [opus, seedEncrypted, seedPlain, l16Plain]) await unit.close();
  });
  const fromOpus = opus.audio.prepare('c');
  const fromSeed = seedEncrypted.audio.prepare('c');
  t.throws(() => opus.audio.start('c', endpointOf(fromSeed)), { message: /the peer uses the seed format.*audio\.srtp false/ });
  t.throws(() => seedEncrypted.audio.start('c', endpointOf(fromOpus)), { message: /this unit uses the seed format.*audio\.srtp false/ });

  const fromSeedPlain = seedPlain.audio.prepare('plain');
  const fromL16Plain = l16Plain.audio.prepare('plain');
  seedPlain.audio.start('plain', endpointOf(fromL16Plain));
  l16Plain.audio.start('plain', endpointOf(fromSeedPlain));
  await Promise.all([seedPlain.audio.whenStarted('plain'), l16Plain.audio.whenStarted('plain')]);
  await talkBothWays({ audio: seedPlain.audio, backend: backendSeed }, { audio: l16Plain.audio, backend: backendL16 }, 'plain', {
    hzA: 700,
    hzB: 900,
    frames: 50,
    advance: () => (nowMs += 20),
  });
  t.true(toneShare(backendL16.playedSamples().subarray(-24_000), 700) > 0.8, 'the L16 unit hears the seed unit');
  t.true(toneShare(backendSeed.playedSamples().subarray(-24_000), 900) > 0.8, 'the seed unit hears the L16 unit');
  for (const unit of [seedPlain, l16Plain]) t.is(unit.audio.stats('plain')!.packetsMalformed, 0);
});

test('only valid packets from the peer count as liveness: garbage and forgeries from its address do not', async (t) => {
  let nowMs = 0;
  const unit = await engine(null, 'default', () => nowMs);
  const peer = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: () => undefined });
  t.teardown(async () => {
    await unit.close();
    await peer.close();
  });
  unit.audio.prepare('c');
  const peerOffer = createSrtpOffer();
  const peerSsrc = 777;
  unit.audio.start('c', { address: '127.0.0.1', udpPort: peer.localPort, format: 'rtp-opus', ssrc: peerSsrc, frameMs: 20, crypto: peerOffer });
  await unit.audio.whenStarted('c');
  const peerKeys = parseSrtpKeyParams(peerOffer.keyParams);
  if (!peerKeys.ok) return t.fail(peerKeys.reason);
  const senderWith = (format: ReturnType<typeof rtpPacketFormat>) =>
    new MediaSender({ encoder: opusCodec.createEncoder({ frameSamples: 960, bitrate: 32_000 }), packetFormat: format, frameSamples: 960, ssrc: peerSsrc, initialSequence: 0, initialTimestamp: 0 });
  const forger = senderWith(rtpPacketFormat(111));
  const genuine = senderWith(srtpPacketFormat(rtpPacketFormat(111), peerKeys.keys));
  t.teardown(() => {
    forger.close();
    genuine.close();
  });
  let malformed = 0;
  // Junk and plain RTP with the peer's SSRC, all from the peer's own address.
  const sendJunk = async () => {
    const junk = [Buffer.from('not audio'), Buffer.alloc(1), forger.sendFrame(tone(300, 0)), Buffer.alloc(200, 0x80)];
    for (const datagram of junk) peer.send(datagram, unit.transport.localPort, '127.0.0.1');
    malformed += junk.length;
    await until(() => unit.audio.stats('c')!.packetsMalformed >= malformed);
  };

  await sendJunk();
  t.is(unit.audio.stats('c')!.msSinceLastPacket, null, 'junk alone is not a sign of life');
  nowMs += 1000;
  await sendJunk();
  t.is(unit.audio.stats('c')!.msSinceLastPacket, null);

  for (let i = 0; i < 5; i += 1) peer.send(genuine.sendFrame(tone(300, i)), unit.transport.localPort, '127.0.0.1');
  await until(() => unit.audio.stats('c')!.packetsReceived >= 5);
  t.is(unit.audio.stats('c')!.msSinceLastPacket, 0, 'a valid packet is');

  nowMs += 600;
  await sendJunk();
  t.is(unit.audio.stats('c')!.msSinceLastPacket, 600, 'junk after it does not reset the clock');
  t.like(unit.audio.stats('c'), { packetsReceived: 5, packetsMalformed: malformed });
});

test('reopen schedule: every 2 s for the first five failed opens, then doubling to a 30 s ceiling', (t) => {
  t.deepEqual(
    Array.from({ length: 10 }, (_, failed) => reopenDelayMs(failed)),
    [2_000, 2_000, 2_000, 2_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000],
  );
});

test('a sound card plugged in after the unit started is opened without a restart', async (t) => {
  const backend = new MemoryAudioBackend({ devices: [] });
  const unit = await engine(backend, 'USB');
  t.teardown(() => unit.close());
  t.false(unit.audio.audioAvailable);
  t.regex(unit.audio.audioState().error ?? '', /USB/, 'the status names the device it looks for');
  backend.plugIn({ id: 7, name: 'USB Audio Device: Audio (hw:1,0)', hostApi: 'memory', maxInputChannels: 1, maxOutputChannels: 1, defaultSampleRate: 48_000 });
  await eventually('the unit to open the card it was waiting for', async () => unit.audio.audioAvailable, 10_000);
  t.like(unit.audio.audioState(), { available: true, error: null, captureDevice: 'USB Audio Device: Audio (hw:1,0)' });
  t.is(backend.openStreams('capture'), 1);
  t.is(backend.openStreams('playback'), 1);
});

test("the unit's own sound starts the devices from idle, mixes with call audio in a call, and the devices stop once it ends", async (t) => {
  let nowMs = 0;
  const backendA = new MemoryAudioBackend({ now: () => nowMs });
  const backendB = new MemoryAudioBackend({ now: () => nowMs });
  const a = await engine(backendA, 'default', () => nowMs);
  const b = await engine(backendB, 'default', () => nowMs);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  t.is(backendA.activeDuplexStreams(), 0, 'idle: the devices are stopped');

  // A ring while idle: 10 frames of 440 Hz.
  a.audio.setLocalSound(samplesSound(concatPcm(Array.from({ length: 10 }, (_, i) => tone(440, i)))));
  await settle();
  t.is(backendA.activeDuplexStreams(), 1, 'the sound starts the devices');
  const from = backendA.played.length;
  backendA.tick(12);
  await settle();
  const ring = concatPcm(backendA.played.slice(from, from + 10).map((frame) => frame.pcm));
  t.true(toneShare(ring, 440) > 0.9, 'the ring came out of the speaker');
  t.false(a.audio.localSoundPlaying);
  t.is(backendA.activeDuplexStreams(), 0, 'and the devices stopped after it');

  // In a call, the unit's own sound (450 Hz: whole cycles per frame, so one frame repeats cleanly) plays over the peer's audio (1200 Hz).
  const fromA = a.audio.prepare('c');
  const fromB = b.audio.prepare('c');
  a.audio.start('c', endpointOf(fromB));
  b.audio.start('c', endpointOf(fromA));
  await Promise.all([a.audio.whenStarted('c'), b.audio.whenStarted('c')]);
  await talkBothWays({ audio: a.audio, backend: backendA }, { audio: b.audio, backend: backendB }, 'c', { hzA: 500, hzB: 1200, frames: 50, advance: () => (nowMs += 20) });
  a.audio.setLocalSound(samplesSound(tone(450, 0), Infinity));
  await talkBothWays({ audio: a.audio, backend: backendA }, { audio: b.audio, backend: backendB }, 'c', { hzA: 500, hzB: 1200, frames: 25, advance: () => (nowMs += 20) });
  const mixed = backendA.playedSamples().subarray(-24_000);
  t.true(toneShare(mixed, 450) > 0.2 && toneShare(mixed, 1200) > 0.2, `both heard (450: ${toneShare(mixed, 450).toFixed(2)}, 1200: ${toneShare(mixed, 1200).toFixed(2)})`);
  a.audio.setLocalSound(null);
  a.audio.stop('c');
  await settle();
  t.is(backendA.activeDuplexStreams(), 0);
});

test('each captured frame goes through the capture processor with what the speaker played meanwhile; its output is what the peer gets', async (t) => {
  let nowMs = 0;
  const backendA = new MemoryAudioBackend({ now: () => nowMs });
  const backendB = new MemoryAudioBackend({ now: () => nowMs });
  const a = await engine(backendA, 'default', () => nowMs);
  const b = await engine(backendB, 'default', () => nowMs);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const seen: { mic: Int16Array; reference: Int16Array }[] = [];
  // The processor replaces A's 500 Hz by 700 Hz: B must hear 700.
  let frame = 0;
  a.audio.setCaptureProcessor((mic, reference) => {
    seen.push({ mic, reference });
    return tone(700, frame);
  });
  const fromA = a.audio.prepare('c');
  const fromB = b.audio.prepare('c');
  a.audio.start('c', endpointOf(fromB));
  b.audio.start('c', endpointOf(fromA));
  await Promise.all([a.audio.whenStarted('c'), b.audio.whenStarted('c')]);
  await talkBothWays({ audio: a.audio, backend: backendA }, { audio: b.audio, backend: backendB }, 'c', {
    hzA: 500,
    hzB: 1200,
    frames: 100,
    advance: () => {
      nowMs += 20;
      frame += 1;
    },
  });
  t.is(seen.length, 100);
  // The memory card is ideal: the reference of each captured frame is the frame played in the same tick.
  const played = backendA.played.slice(-100).map((entry) => entry.pcm);
  t.deepEqual(seen.map((entry) => [...entry.reference]), played.map((pcm) => [...pcm]));
  t.true(seen.every((entry) => toneShare(entry.mic, 500) > 0.9), 'the processor gets the microphone');
  t.true(toneShare(backendB.playedSamples().subarray(-24_000), 700) > 0.8, "the peer hears the processor's output");
});
