import test from 'ava';
import { pino } from 'pino';
import { CallAudio } from '../../src/streaming/call-audio.js';
import { UdpTransport } from '../../src/net/udp-transport.js';
import { MemoryAudioBackend } from '../../src/audio/memory-backend.js';
import { NaudiodonBackend } from '../../src/audio/naudiodon-backend.js';
import type { AudioBackend } from '../../src/audio/audio-backend.js';
import type { MediaEndpoint } from '../../src/calls/call-media.js';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { toneShare } from '../support/audio-analysis.js';

const logger = pino({ level: 'silent' });
const settings = { format: 'rtp-opus', frameMs: 20, bitrate: 32_000, complexity: 3, minDelayMs: 20, maxDelayMs: 400 } as const;

async function engine(backend: AudioBackend | null, device: string, now?: () => number) {
  const audio = new CallAudio({ settings, captureDevice: device, playbackDevice: device, backend, logger, now });
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

  const fromA = a.audio.prepare('call-1');
  const fromB = b.audio.prepare('call-1');
  a.audio.start('call-1', endpointOf(fromB));
  b.audio.start('call-1', endpointOf(fromA));
  await Promise.all([a.audio.whenStarted('call-1'), b.audio.whenStarted('call-1')]);

  let frame = 0;
  backendA.setCaptureSource(() => tone(500, frame));
  backendB.setCaptureSource(() => tone(1200, frame));
  for (; frame < 150; frame += 1) {
    const receivedBefore = [a.audio.stats('call-1')!.packetsReceived, b.audio.stats('call-1')!.packetsReceived];
    backendA.tick();
    backendB.tick();
    nowMs += 20;
    // Wait for this frame's datagrams to arrive on both sides (real sockets).
    while (a.audio.stats('call-1')!.packetsReceived === receivedBefore[0] || b.audio.stats('call-1')!.packetsReceived === receivedBefore[1]) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
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
  backendA.tick(10);
  t.true(backendA.played.slice(before).every((played) => played.pcm.every((sample) => sample === 0)), 'silence between calls');
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
  unit.audio.start('c', { address: '127.0.0.2', udpPort: 9, format: 'rtp-opus', ssrc: 1234, frameMs: 20 });
  await unit.audio.whenStarted('c');
  for (let i = 0; i < 20; i += 1) stranger.send(Buffer.from(`not audio ${i}`), unit.transport.localPort, '127.0.0.1');
  while (unit.audio.stats('c')!.packetsMalformed < 20) await new Promise((resolve) => setImmediate(resolve));
  backend.tick(5);
  nowMs += 100;
  t.is(unit.audio.stats('c')!.packetsReceived, 0);
  t.true(backend.played.every((played) => played.pcm.every((sample) => sample === 0)));
});

test('a thousand calls on devices opened once: the audio hosts stay the same processes and memory stays flat', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic'], speakers: ['spk'] });
  t.teardown(() => alsa.dispose());
  const backend = new NaudiodonBackend({ env: { ...process.env, ...alsa.env }, logger });
  const audio = new CallAudio({ settings, captureDevice: 'mic', playbackDevice: 'spk', backend, logger });
  const transport = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram, from) => audio.onDatagram(datagram, from) });
  audio.attachTransport(transport);
  await audio.openDevices();
  const a = { audio, close: async () => { await audio.close(); await transport.close(); } };
  t.teardown(async () => {
    await a.close();
    await backend.close();
  });
  // The playback device is "spk"; the capture device "mic" (exact names win over substrings).
  t.true(a.audio.audioState().available, JSON.stringify(a.audio.audioState()));
  const hosts = backend.hostCount;
  const peer = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: () => undefined });
  t.teardown(() => peer.close());

  const runCalls = async (count: number, offset: number) => {
    for (let call = offset; call < offset + count; call += 1) {
      const id = `call-${call}`;
      a.audio.prepare(id);
      a.audio.start(id, { address: '127.0.0.1', udpPort: peer.localPort, format: 'rtp-opus', ssrc: call + 1, frameMs: 20 });
      await a.audio.whenStarted(id);
      a.audio.stop(id);
    }
  };
  await runCalls(200, 0);
  const baseline = process.memoryUsage();
  await runCalls(1000, 200);
  const after = process.memoryUsage();
  const growthMiB = (after.rss - baseline.rss) / 2 ** 20;
  t.log(`RSS ${(baseline.rss / 2 ** 20).toFixed(1)} -> ${(after.rss / 2 ** 20).toFixed(1)} MiB over 1000 calls`);
  t.true(growthMiB < 15, `RSS grew ${growthMiB.toFixed(1)} MiB`);
  t.is(backend.hostCount, hosts, 'no audio host was started or lost');
  t.true(a.audio.audioState().available);
});
