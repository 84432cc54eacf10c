// Two units' media engines on the ALSA engine, in a call over real sockets, while their virtual
// sound cards are unplugged and plugged back in: the call goes on, audio comes back by itself.
import test from 'ava';
import { renameSync } from 'node:fs';
import { pino } from 'pino';
import { CallAudio } from '../../src/streaming/call-audio.js';
import { UdpTransport } from '../../src/net/udp-transport.js';
import { AlsaEngineBackend } from '../../src/audio/alsa-engine-backend.js';
import type { MediaEndpoint } from '../../src/calls/call-media.js';
import { createVirtualAlsa, type VirtualAlsa } from '../support/virtual-alsa.js';
import { toneShare } from '../support/audio-analysis.js';
import { eventually } from '../support/eventually.js';

const logger = pino({ level: 'silent' });
const settings = { format: 'rtp-opus', frameMs: 20, bitrate: 32_000, complexity: 1, minDelayMs: 5, maxDelayMs: 400 } as const;

function tone(frequency: number, seconds: number): Int16Array {
  const samples = new Int16Array(seconds * 48_000);
  for (let i = 0; i < samples.length; i += 1) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * frequency * i) / 48_000));
  return samples;
}

async function unit(backend: AlsaEngineBackend, mic: string, speaker: string) {
  const audio = new CallAudio({ settings, captureDevice: mic, playbackDevice: speaker, backend, logger });
  const transport = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram, from) => audio.onDatagram(datagram, from) });
  audio.attachTransport(transport);
  await audio.openDevices();
  return {
    audio,
    async close() {
      await audio.close();
      await transport.close();
    },
  };
}

/** Whether the last 0.3 s on `speaker` are mostly `frequency`. */
function hears(alsa: VirtualAlsa, speaker: string, frequency: number): boolean {
  const samples = alsa.speaker(speaker).samples();
  return samples.length > 14_400 && toneShare(samples.subarray(-14_400), frequency) > 0.5;
}

test.serial('a card unplugged mid-call (its microphone, then its speaker, then its configuration gone) comes back by itself, and the call carries audio again', async (t) => {
  t.timeout(180_000);
  const alsa = await createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  process.env.ALSA_CONFIG_PATH = alsa.configPath;
  const backend = new AlsaEngineBackend({ logger });
  t.teardown(() => backend.close());
  const a = await unit(backend, 'mic_a', 'spk_a');
  const b = await unit(backend, 'mic_b', 'spk_b');
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  void alsa.mic('mic_a').play(tone(500, 120)).catch(() => undefined);
  void alsa.mic('mic_b').play(tone(1200, 120)).catch(() => undefined);

  const endpoint = (from: MediaEndpoint): MediaEndpoint => ({ ...from, address: '127.0.0.1' });
  const fromA = a.audio.prepare('call');
  const fromB = b.audio.prepare('call');
  a.audio.start('call', endpoint(fromB));
  b.audio.start('call', endpoint(fromA));
  await Promise.all([a.audio.whenStarted('call'), b.audio.whenStarted('call')]);
  await eventually('each speaker to play the other side', async () => hears(alsa, 'spk_b', 500) && hears(alsa, 'spk_a', 1200), 15_000);

  // The microphone goes quiet (its FIFO's writer stops: a USB card pulled out).
  alsa.mic('mic_a').stall();
  await eventually('A to notice its capture device is gone', async () => !a.audio.audioAvailable, 15_000);
  t.regex(a.audio.audioState().error ?? '', /capture|mic_a/);
  t.truthy(a.audio.stats('call'), 'the call goes on without it');
  alsa.mic('mic_a').resume();
  await eventually('A to reopen its card and B to hear A again', async () => a.audio.audioAvailable && hears(alsa, 'spk_b', 500), 20_000);

  // The speaker stops taking audio.
  alsa.speaker('spk_a').stall();
  await eventually('A to notice its playback device is gone', async () => !a.audio.audioAvailable, 15_000);
  t.regex(a.audio.audioState().error ?? '', /playback|spk_a/);
  // ... and while it is out, its configuration disappears too (the device no longer exists).
  renameSync(alsa.configPath, `${alsa.configPath}.away`);
  await eventually('A to say the device is missing', async () => /spk_a|mic_a|open/.test(a.audio.audioState().error ?? '') && !a.audio.audioAvailable, 15_000);
  renameSync(`${alsa.configPath}.away`, alsa.configPath);
  alsa.speaker('spk_a').resume();
  const heardFrom = alsa.speaker('spk_a').sampleCount;
  await eventually('A to reopen its card and play B again', async () => a.audio.audioAvailable && alsa.speaker('spk_a').sampleCount > heardFrom + 48_000 && hears(alsa, 'spk_a', 1200), 30_000);
  t.true(hears(alsa, 'spk_b', 500), 'and B still hears A');
  t.like(b.audio.audioState(), { available: true, error: null }, "B's card was never touched");
});
