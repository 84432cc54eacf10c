import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { CallAudio } from '../../src/streaming/call-audio.js';
import { UdpTransport } from '../../src/net/udp-transport.js';
import { MemoryAudioBackend } from '../../src/audio/memory-backend.js';
import { AudioLevels } from '../../src/audio/audio-levels.js';
import type { MediaEndpoint } from '../../src/calls/call-media.js';
import { rms, toneShare } from '../support/audio-analysis.js';

// Volume, microphone gain and mute on the real media engine: two CallAudio engines on the
// in-memory audio backend, joined over real UDP sockets with Opus, their levels set by AudioLevels
// (no mixer: the in-memory device has none, so every level is applied in software).

const logger = pino({ level: 'silent' });
const settings = { format: 'rtp-opus', frameMs: 20, bitrate: 32_000, complexity: 3, minDelayMs: 20, maxDelayMs: 400 } as const;
const FRAME = 960;

async function side(t: import('ava').ExecutionContext, clock: { nowMs: number }) {
  const backend = new MemoryAudioBackend({ now: () => clock.nowMs });
  const opened = { count: 0 };
  const audio = new CallAudio({ settings, captureDevice: 'default', playbackDevice: 'default', backend, logger, now: () => clock.nowMs, onDevicesOpened: () => (opened.count += 1) });
  const transport = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram, from) => audio.onDatagram(datagram, from) });
  audio.attachTransport(transport);
  await audio.openDevices();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-audio-'));
  const levels = new AudioLevels({ dataDir, defaults: { volume: 100, micGain: 50 }, mixer: null, playbackDevice: 'default', captureDevice: 'default', software: audio });
  await levels.load();
  t.teardown(async () => {
    await audio.close();
    await transport.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { backend, audio, levels, opened };
}

function tone(frequency: number, frameIndex: number): Int16Array {
  const frame = new Int16Array(FRAME);
  for (let i = 0; i < FRAME; i += 1) frame[i] = Math.round(6000 * Math.sin((2 * Math.PI * frequency * (frameIndex * FRAME + i)) / 48_000));
  return frame;
}

/** A's microphone hears a 600 Hz tone; `frames` frames are captured and played on both sides, each awaited on the wire. */
async function call(t: import('ava').ExecutionContext) {
  const clock = { nowMs: 0 };
  const a = await side(t, clock);
  const b = await side(t, clock);
  const at = (endpoint: MediaEndpoint): MediaEndpoint => ({ ...endpoint, address: '127.0.0.1' });
  const fromA = a.audio.prepare('call-1');
  const fromB = b.audio.prepare('call-1');
  a.audio.start('call-1', at(fromB));
  b.audio.start('call-1', at(fromA));
  await Promise.all([a.audio.whenStarted('call-1'), b.audio.whenStarted('call-1')]);
  let frame = 0;
  a.backend.setCaptureSource(() => tone(600, frame));
  b.backend.setCaptureSource(() => new Int16Array(FRAME));
  /** Runs `frames` frames and returns what B's speaker played meanwhile. */
  const talk = async (frames: number): Promise<Int16Array> => {
    const before = b.backend.playedSamples().length;
    for (let index = 0; index < frames; index += 1, frame += 1) {
      const arrived = () => b.audio.stats('call-1')!.packetsReceived;
      const was = arrived();
      a.backend.tick();
      b.backend.tick();
      clock.nowMs += 20;
      while (arrived() === was) await new Promise((resolve) => setImmediate(resolve));
    }
    return b.backend.playedSamples().slice(before);
  };
  return { a, b, talk };
}

/** The last second of what was played: past the jitter buffer's delay and the codec's start. */
const settled = (played: Int16Array) => played.subarray(-48_000);
const db = (ratio: number) => 20 * Math.log10(ratio);

test('while A is muted, B hears silence; unmuted, B hears A again', async (t) => {
  const { a, talk } = await call(t);
  t.is(a.opened.count, 1, 'the engine says when its devices opened (the levels go to a new card\'s mixer then)');
  const before = settled(await talk(100));
  t.true(toneShare(before, 600) > 0.8, `B hears A's tone before the mute (${toneShare(before, 600)})`);
  t.true(rms(before) > 2000, `at its level (rms ${rms(before)})`);

  const status = await a.levels.set({ muted: true });
  t.true(status.muted);
  const muted = settled(await talk(100));
  t.true(rms(muted) < 5, `B hears silence while A is muted (rms ${rms(muted)})`);
  t.true(a.audio.stats('call-1')!.packetsSent >= 200, 'packets keep flowing (the call stays alive), carrying silence');

  a.levels.toggleMute();
  const after = settled(await talk(100));
  t.true(toneShare(after, 600) > 0.8 && rms(after) > 2000, `B hears A again once unmuted (rms ${rms(after)})`);
});

test('software volume and microphone gain change the level the far end and the speaker get, by the dB they promise', async (t) => {
  const { a, b, talk } = await call(t);
  const reference = rms(settled(await talk(100)));

  // B's volume 50: 20 dB quieter on B's speaker (0.4 dB a step below 100).
  await b.levels.set({ volume: 50 });
  const quieter = rms(settled(await talk(100)));
  t.true(Math.abs(db(quieter / reference) + 20) < 1.5, `volume 50 is ${db(quieter / reference).toFixed(1)} dB (want -20)`);
  t.is(b.levels.status().volumeControl, 'software');

  // A's microphone gain 60: 4 dB louder at B, whose volume is back at 100.
  await b.levels.set({ volume: 100 });
  await a.levels.set({ micGain: 60 });
  const louder = rms(settled(await talk(100)));
  t.true(Math.abs(db(louder / reference) - 4) < 1.5, `microphone gain 60 is ${db(louder / reference).toFixed(1)} dB (want +4)`);
  t.is(a.levels.status().micGainControl, 'software');

  // Volume 0 is silent.
  await b.levels.set({ volume: 0 });
  t.is(rms(settled(await talk(60))), 0, 'volume 0: nothing comes out of the speaker');
});
