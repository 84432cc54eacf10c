import test from 'ava';
import { readFileSync } from 'node:fs';
import { ConfigError, validateConfig } from '../../src/config/validate.js';
import { DEFAULT_CAPTURE_PROCESSING, type CaptureProcessingSettings } from '../../src/audio-processing/capture-processor.js';

// The hands-free keys (issue 13): audio.processing.*, audio.ringTone, audio.ringVolume. Units
// ship with every part of the processing on; each part can be turned off alone.

const SHIPPED = JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as Record<string, any>;

function withAudio(edit: (audio: Record<string, any>) => void): Record<string, any> {
  const config = structuredClone(SHIPPED);
  edit(config.audio);
  return config;
}

function refusal(config: unknown): ConfigError {
  try {
    validateConfig(config);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

test('units ship with echo cancellation, noise suppression and gain control on, the built-in chime at 80', (t) => {
  const config = validateConfig(SHIPPED);
  const processing: CaptureProcessingSettings = config.audio.processing;
  t.deepEqual(processing, { enabled: true, echoCancellation: true, noiseSuppression: true, gainControl: true, echoTailMs: 200 });
  t.deepEqual(processing, DEFAULT_CAPTURE_PROCESSING);
  t.is(config.audio.ringTone, null);
  t.is(config.audio.ringVolume, 80);
});

test('each part of the processing turns off on its own', (t) => {
  for (const key of ['enabled', 'echoCancellation', 'noiseSuppression', 'gainControl']) {
    const config = validateConfig(withAudio((audio) => (audio.processing[key] = false)));
    t.false((config.audio.processing as Record<string, unknown>)[key] as boolean, key);
  }
});

test('audio.processing.echoTailMs takes 50 to 500 ms, audio.ringVolume 0 to 100, each refusal naming the key', (t) => {
  for (const [key, min, max] of [['processing.echoTailMs', 50, 500], ['ringVolume', 0, 100]] as const) {
    const set = (value: unknown) =>
      withAudio((audio) => {
        if (key === 'ringVolume') audio.ringVolume = value;
        else audio.processing.echoTailMs = value;
      });
    for (const value of [min, max]) t.notThrows(() => validateConfig(set(value)));
    for (const value of [min - 1, max + 1, min + 0.5]) {
      const error = refusal(set(value));
      t.is(error.key, `audio.${key}`);
      t.is(error.message, `config key "audio.${key}" is ${value}; expected an integer from ${min} to ${max}`);
    }
  }
});

test('a misspelt or mistyped processing switch is refused by name', (t) => {
  t.is(refusal(withAudio((audio) => (audio.processing.echo = false))).message, 'config key "audio.processing.echo" is not a known setting (check its spelling)');
  t.is(refusal(withAudio((audio) => (audio.processing.gainControl = 'yes'))).message, 'config key "audio.processing.gainControl" is "yes"; expected a boolean');
  t.is(refusal(withAudio((audio) => delete audio.processing.noiseSuppression)).key, 'audio.processing.noiseSuppression');
});

test('audio.ringTone is an absolute path or null, and a relative one says what to write', (t) => {
  t.is(validateConfig(withAudio((audio) => (audio.ringTone = '/etc/intercom/ring.wav'))).audio.ringTone, '/etc/intercom/ring.wav');
  for (const value of ['ring.wav', '', 5, '/']) {
    const error = refusal(withAudio((audio) => (audio.ringTone = value)));
    t.is(error.key, 'audio.ringTone');
    t.regex(error.message, /expected the absolute path of a WAV file \(e\.g\. "\/etc\/intercom\/ring\.wav"\), or null for the built-in chime$/);
  }
});
