import test from 'ava';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AmixerFinder, chooseControl, controlDeviceFor, parseSimpleControls } from '../../src/audio/mixer.js';
import { AudioLevels, micGainFactor, volumeFactor, type SoftwareLevels } from '../../src/audio/audio-levels.js';
import { createVirtualAlsa } from '../support/virtual-alsa.js';

// `amixer -c 1 scontents` of a common USB card (C-Media CM108: speaker, mic monitor, capture gain, AGC).
const USB_CARD = `Simple mixer control 'Speaker',0
  Capabilities: pvolume pswitch pswitch-joined
  Playback channels: Front Left - Front Right
  Limits: Playback 0 - 151
  Mono:
  Front Left: Playback 120 [79%] [-5.56dB] [on]
  Front Right: Playback 120 [79%] [-5.56dB] [on]
Simple mixer control 'Mic',0
  Capabilities: pvolume pvolume-joined cvolume cvolume-joined pswitch pswitch-joined cswitch cswitch-joined
  Playback channels: Mono
  Capture channels: Mono
  Limits: Playback 0 - 127 Capture 0 - 16
  Mono: Playback 0 [0%] [-23.00dB] [off] Capture 10 [62%] [13.00dB] [on]
Simple mixer control 'Auto Gain Control',0
  Capabilities: pswitch pswitch-joined
  Playback channels: Mono
  Mono: Playback [on]
`;

test('amixer scontents is read as controls with their capabilities', (t) => {
  const controls = parseSimpleControls(USB_CARD);
  t.deepEqual(
    controls.map((control) => [control.name, control.index, control.capabilities.length]),
    [['Speaker', 0, 3], ['Mic', 0, 8], ['Auto Gain Control', 0, 2]],
  );
});

test('the speaker volume is a playback volume, the microphone gain a capture volume; a card without one has none', (t) => {
  const controls = parseSimpleControls(USB_CARD);
  t.is(chooseControl(controls, 'playback')?.name, 'Speaker', "not the Mic control's monitor volume");
  t.is(chooseControl(controls, 'capture')?.name, 'Mic');
  const playbackOnly = parseSimpleControls("Simple mixer control 'PCM',0\n  Capabilities: pvolume pvolume-joined pswitch pswitch-joined\n");
  t.is(chooseControl(playbackOnly, 'capture'), null, 'a card without capture volume: the gain is applied in software');
  const unusual = parseSimpleControls("Simple mixer control 'Switch',0\n  Capabilities: pswitch\nSimple mixer control 'Out Level',0\n  Capabilities: pvolume\n");
  t.is(chooseControl(unusual, 'playback')?.name, 'Out Level', 'no usual name: the first control with a playback volume');
});

test('the control device of a PCM name: its card, the default card, a card whose name holds the text, else the name itself', (t) => {
  const cards = ' 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n 1 [Device         ]: USB-Audio - USB PnP Sound Device\n';
  t.is(controlDeviceFor('plughw:CARD=Device,DEV=0', cards), 'hw:Device');
  t.is(controlDeviceFor('hw:1,0', cards), 'hw:1');
  t.is(controlDeviceFor('dsnoop:CARD=Device', cards), 'hw:Device');
  t.is(controlDeviceFor('default', cards), 'default');
  t.is(controlDeviceFor('USB', cards), 'hw:Device');
  t.is(controlDeviceFor('mic_a', null), 'mic_a');
});

/** A stand-in amixer that logs its arguments and lists `listing` (or fails like a device without a mixer). */
async function fakeAmixer(t: import('ava').ExecutionContext, listing: string | null, ssetFails = false) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-amixer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'calls.log');
  const command = path.join(dir, 'amixer');
  await writeFile(path.join(dir, 'listing.txt'), listing ?? '');
  await writeFile(
    command,
    `#!/bin/sh\necho "$*" >> '${log}'\ncase "$*" in\n  *scontents*) ${listing === null ? "echo 'amixer: Mixer attach hw:Device error: No such device' >&2; exit 1" : `cat '${dir}/listing.txt'`} ;;\n  *sset*) ${ssetFails ? "echo 'amixer: Mixer attach hw:Device error: No such device' >&2; exit 1" : 'exit 0'} ;;\nesac\n`,
  );
  await chmod(command, 0o755);
  return { command, calls: async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean) };
}

class RecordingLevels implements SoftwareLevels {
  playback = 1;
  capture = 1;
  muted = false;
  setPlaybackGain(factor: number) {
    this.playback = factor;
  }
  setCaptureGain(factor: number) {
    this.capture = factor;
  }
  setMicMuted(muted: boolean) {
    this.muted = muted;
  }
}

test("a card with mixer controls gets the levels there (amixer -M, its perceptual scale) and the software gains stay at 1", async (t) => {
  const amixer = await fakeAmixer(t, USB_CARD);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const software = new RecordingLevels();
  const levels = new AudioLevels({
    dataDir,
    defaults: { volume: 70, micGain: 40 },
    mixer: new AmixerFinder({ command: amixer.command, readCards: async () => null }),
    playbackDevice: 'plughw:CARD=Device,DEV=0',
    captureDevice: 'plughw:CARD=Device,DEV=0',
    software,
  });
  await levels.load();
  t.like(levels.status(), { volume: 70, micGain: 40, volumeControl: "mixer hw:Device 'Speaker'", micGainControl: "mixer hw:Device 'Mic'" });
  t.deepEqual([software.playback, software.capture], [1, 1]);
  await levels.set({ volume: 33 });
  t.deepEqual((await amixer.calls()).filter((call) => call.includes('sset')), [
    '-q -M -D hw:Device sset Speaker,0 playback 70%',
    '-q -M -D hw:Device sset Mic,0 capture 40%',
    '-q -M -D hw:Device sset Speaker,0 playback 33%',
  ]);
});

test('a card that goes away (amixer cannot set its control): the level moves to software and the status says so', async (t) => {
  const amixer = await fakeAmixer(t, USB_CARD, true);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const software = new RecordingLevels();
  const levels = new AudioLevels({ dataDir, defaults: { volume: 60, micGain: 50 }, mixer: new AmixerFinder({ command: amixer.command, readCards: async () => null }), playbackDevice: 'hw:Device', captureDevice: 'hw:Device', software });
  await levels.load();
  t.like(levels.status(), { volume: 60, volumeControl: 'software', micGainControl: 'software' });
  t.is(software.playback, volumeFactor(60));
});

test('a device whose card has no mixer (amixer fails): the levels are applied in software', async (t) => {
  const amixer = await fakeAmixer(t, null);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const software = new RecordingLevels();
  const levels = new AudioLevels({ dataDir, defaults: { volume: 50, micGain: 75 }, mixer: new AmixerFinder({ command: amixer.command, readCards: async () => null }), playbackDevice: 'plughw:CARD=Device', captureDevice: 'plughw:CARD=Device', software });
  await levels.load();
  t.like(levels.status(), { volumeControl: 'software', micGainControl: 'software' });
  t.is(software.playback, volumeFactor(50));
  t.is(software.capture, micGainFactor(75));
  t.true(Math.abs(20 * Math.log10(software.playback) + 20) < 1e-9, 'volume 50 is -20 dB');
  t.true(Math.abs(20 * Math.log10(software.capture) - 10) < 1e-9, 'mic gain 75 is +10 dB');
});

test('the real amixer against virtual ALSA devices, which have no mixer: no control is found and the levels go to software', async (t) => {
  const alsa = await createVirtualAlsa({ mics: ['mic_levels'], speakers: ['spk_levels'] });
  t.teardown(() => alsa.dispose());
  const env = { ...process.env, ...alsa.env };
  const finder = new AmixerFinder({ env });
  t.is(await finder.find('spk_levels', 'playback'), null);
  t.is(await finder.find('mic_levels', 'capture'), null);
  t.is(await finder.find('default', 'playback'), null, 'no card at all: the default card has no mixer either');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const software = new RecordingLevels();
  const levels = new AudioLevels({ dataDir, defaults: { volume: 80, micGain: 50 }, mixer: finder, playbackDevice: 'spk_levels', captureDevice: 'mic_levels', software });
  await levels.load();
  t.like(levels.status(), { volumeControl: 'software', micGainControl: 'software' });
  t.is(software.playback, volumeFactor(80));
  t.is(software.capture, 1, 'mic gain 50: the microphone as captured');
});

test('a card that appears after start: refresh() finds its controls and puts the levels there', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const set: string[] = [];
  let cardPresent = false;
  const finder = {
    async find(_device: string, direction: 'playback' | 'capture') {
      if (!cardPresent) return null;
      return { name: `hw:Device '${direction}'`, setLevel: async (level: number) => void set.push(`${direction} ${level}`) };
    },
  };
  const software = new RecordingLevels();
  const levels = new AudioLevels({ dataDir, defaults: { volume: 70, micGain: 55 }, mixer: finder, playbackDevice: 'USB', captureDevice: 'USB', software });
  await levels.load();
  t.like(levels.status(), { volumeControl: 'software' });
  t.is(software.playback, volumeFactor(70));
  const changes: unknown[] = [];
  levels.on('changed', (status) => changes.push(status));

  cardPresent = true;
  await levels.refresh();
  t.deepEqual(set, ['playback 70', 'capture 55']);
  t.like(levels.status(), { volumeControl: "mixer hw:Device 'playback'", micGainControl: "mixer hw:Device 'capture'" });
  t.deepEqual([software.playback, software.capture], [1, 1], 'no double gain: software back at 1');
  t.is(changes.length, 1, 'the panel is told where the levels went');
});
