import test from 'ava';
import { AudioDeviceNotFoundError, type AudioDeviceInfo } from '../../src/audio/audio-backend.js';
import { parseSoundCards, resolveDevice } from '../../src/audio/device-resolver.js';

function device(id: number, name: string, inputs: number, outputs: number): AudioDeviceInfo {
  return { id, name, hostApi: 'ALSA', maxInputChannels: inputs, maxOutputChannels: outputs, defaultSampleRate: 48_000 };
}

// As PortAudio lists a Pi with HDMI and a USB headset, plus the usual configured PCMs.
const devices = [
  device(0, 'vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)', 0, 2),
  device(1, 'USB Audio Device: - (hw:1,0)', 1, 2),
  device(2, 'sysdefault', 128, 128),
  device(3, 'testmic', 128, 128),
  device(4, 'testmic_raw', 128, 128),
  device(5, 'default', 128, 128),
];
const cards = parseSoundCards(
  [
    ' 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0',
    '                      vc4-hdmi-0',
    ' 1 [Device         ]: USB-Audio - USB Audio Device',
    '                      C-Media Electronics Inc. USB Audio Device at usb-0000:01:00.0-1.3, full speed',
  ].join('\n'),
);

test('parses /proc/asound/cards', (t) => {
  t.deepEqual(cards, [
    { index: 0, id: 'vc4hdmi0', driver: 'vc4-hdmi', name: 'vc4-hdmi-0' },
    { index: 1, id: 'Device', driver: 'USB-Audio', name: 'USB Audio Device' },
  ]);
  t.deepEqual(parseSoundCards('--- no soundcards ---\n'), []);
});

test('an exact name wins over a longer name containing it', (t) => {
  t.is(resolveDevice('testmic', 'capture', devices).device.id, 3);
  t.is(resolveDevice('default', 'playback', devices).device.id, 5);
  t.is(resolveDevice('DEFAULT', 'playback', devices).device.id, 5);
});

test('ALSA hardware names find the PortAudio device, by card number or by card id', (t) => {
  t.is(resolveDevice('hw:1,0', 'capture', devices, cards).device.id, 1);
  t.is(resolveDevice('plughw:1', 'capture', devices, cards).device.id, 1);
  t.is(resolveDevice('plughw:CARD=Device,DEV=0', 'capture', devices, cards).device.id, 1);
  t.is(resolveDevice('hw:CARD=vc4hdmi0', 'playback', devices, cards).device.id, 0);
  t.is(resolveDevice('hw:Device', 'playback', devices, cards).device.id, 1);
});

test('a hardware name for a card that is not there is not found', (t) => {
  const error = t.throws(() => resolveDevice('plughw:CARD=Headset', 'capture', devices, cards), { instanceOf: AudioDeviceNotFoundError });
  t.is(error!.wanted, 'plughw:CARD=Headset');
  t.throws(() => resolveDevice('hw:3,0', 'capture', devices, cards), { instanceOf: AudioDeviceNotFoundError });
});

test('a case-insensitive substring picks the first match and names the others', (t) => {
  const usb = resolveDevice('usb', 'capture', devices);
  t.is(usb.device.name, 'USB Audio Device: - (hw:1,0)');
  t.deepEqual(usb.otherMatches, []);
  const mic = resolveDevice('MIC', 'capture', devices);
  t.is(mic.device.name, 'testmic');
  t.deepEqual(mic.otherMatches, ['testmic_raw']);
});

test('direction matters: an output-only device is no microphone', (t) => {
  const error = t.throws(() => resolveDevice('hdmi', 'capture', devices), { instanceOf: AudioDeviceNotFoundError });
  t.false(error!.available.some((name) => name.includes('hdmi')));
  t.is(resolveDevice('hdmi', 'playback', devices).device.id, 0);
});

test('nothing matching lists what exists; no devices lists none', (t) => {
  const error = t.throws(() => resolveDevice('Blue Yeti', 'capture', devices), { instanceOf: AudioDeviceNotFoundError });
  t.deepEqual(error!.available, ['USB Audio Device: - (hw:1,0)', 'sysdefault', 'testmic', 'testmic_raw', 'default']);
  t.regex(error!.message, /no capture device matches "Blue Yeti"; available capture devices: "USB Audio Device: - \(hw:1,0\)", "sysdefault"/);
  t.regex(t.throws(() => resolveDevice('default', 'playback', []))!.message, /available playback devices: none/);
  t.throws(() => resolveDevice('  ', 'playback', devices), { instanceOf: AudioDeviceNotFoundError });
});
