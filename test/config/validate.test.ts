import test from 'ava';
import { readFileSync } from 'node:fs';
import { ConfigError, validateConfig } from '../../src/config/validate.js';

// validateConfig is what stands between a unit's config files and the service: every wrong value
// must be refused with a message that names the dotted key and says what would be accepted.

const SHIPPED_DEFAULTS = JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as Record<string, any>;

/** The shipped defaults with one change made by `edit`. */
function configWith(edit: (config: Record<string, any>) => void): Record<string, any> {
  const config = structuredClone(SHIPPED_DEFAULTS);
  edit(config);
  return config;
}

function setAt(config: Record<string, any>, key: string, value: unknown): void {
  const parts = key.split('.');
  const parent = parts.slice(0, -1).reduce((node, part) => node[part], config);
  parent[parts.at(-1)!] = value;
}

function refusal(config: unknown): ConfigError {
  const error = (() => {
    try {
      validateConfig(config);
    } catch (thrown) {
      return thrown;
    }
    throw new Error('expected the configuration to be refused');
  })();
  if (!(error instanceof ConfigError)) throw error;
  return error;
}

test('the shipped defaults pass, come back equal, and are frozen all the way down', (t) => {
  const config = validateConfig(SHIPPED_DEFAULTS);
  t.deepEqual(config, SHIPPED_DEFAULTS);
  t.true(Object.isFrozen(config) && Object.isFrozen(config.audio) && Object.isFrozen(config.gpio));
  t.throws(() => {
    (config.audio as { udpPort: number }).udpPort = 1;
  }, { instanceOf: TypeError });
});

// Each whole-number key with the range the product accepts (a statement of the spec, not read
// back from the schema): the ends pass, one step past either end is refused naming the key.
const RANGES: [key: string, min: number, max: number][] = [
  ['http.port', 0, 65535],
  ['audio.udpPort', 0, 65535],
  ['audio.bitrate', 6000, 510000],
  ['audio.complexity', 0, 10],
  ['jitter.minMs', 0, 1000],
  ['jitter.maxMs', 20, 2000],
  ['calls.ringTimeoutMs', 1000, 600000],
  ['calls.peerLostMs', 1000, 60000],
  ['discovery.pollIntervalMs', 200, 60000],
  ['discovery.offlineAfterMs', 500, 600000],
  ['discovery.requestTimeoutMs', 100, 30000],
  ['site.maxClockSkewMs', 1000, 600000],
  ['gpio.debounceMs', 1, 500],
  ['gpio.longPressMs', 200, 10000],
  ['gpio.doorPulseMs', 100, 30000],
  ['gpio.ledBlinkPeriodMs', 100, 5000],
];

for (const [key, min, max] of RANGES) {
  test(`${key} accepts ${min} to ${max} and refuses values outside, naming the key`, (t) => {
    // jitter.minMs may not exceed jitter.maxMs: give it room so only the range is under test.
    const withRoom = (value: number) =>
      configWith((config) => {
        config.jitter.maxMs = 2000;
        setAt(config, key, value);
      });
    for (const value of [min, max]) t.notThrows(() => validateConfig(withRoom(value)), `${key} = ${value}`);
    for (const value of [min - 1, max + 1, min + 0.5]) {
      const error = refusal(withRoom(value));
      t.is(error.key, key);
      t.is(error.message, `config key "${key}" is ${value}; expected an integer from ${min} to ${max}`);
    }
    const text = refusal(withRoom('40' as unknown as number));
    t.is(text.key, key, 'a number written as a string is refused too');
  });
}

test('the values the audit named: udpPort 70000, frameMs 15, bitrate out of range, negative jitter', (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['audio.udpPort', 70000, /^config key "audio\.udpPort" is 70000; expected an integer from 0 to 65535$/],
    ['audio.frameMs', 15, /^config key "audio\.frameMs" is 15; expected one of 10, 20$/],
    ['audio.bitrate', 600000, /^config key "audio\.bitrate" is 600000; expected an integer from 6000 to 510000$/],
    ['audio.bitrate', 0, /^config key "audio\.bitrate" is 0; expected an integer from 6000 to 510000$/],
    ['jitter.minMs', -20, /^config key "jitter\.minMs" is -20; expected an integer from 0 to 1000$/],
    ['jitter.maxMs', -400, /^config key "jitter\.maxMs" is -400; expected an integer from 20 to 2000$/],
  ];
  for (const [key, value, expected] of cases) {
    const error = refusal(configWith((config) => setAt(config, key, value)));
    t.is(error.key, key);
    t.regex(error.message, expected);
  }
});

test('audio.frameMs takes 10 or 20 only, audio.format the three wire formats, log.level pino levels', (t) => {
  for (const frameMs of [10, 20]) t.notThrows(() => validateConfig(configWith((config) => (config.audio.frameMs = frameMs))));
  for (const frameMs of [0, 5, 15, 30, 40]) t.is(refusal(configWith((config) => (config.audio.frameMs = frameMs))).key, 'audio.frameMs');
  for (const format of ['rtp-opus', 'rtp-l16', 'seed']) t.notThrows(() => validateConfig(configWith((config) => (config.audio.format = format))));
  t.regex(refusal(configWith((config) => (config.audio.format = 'mp3'))).message, /"audio\.format" is "mp3"; expected one of "rtp-opus", "rtp-l16", "seed"$/);
  t.regex(refusal(configWith((config) => (config.log.level = 'loud'))).message, /"log\.level" is "loud"; expected one of "fatal", .*"silent"$/);
});

test('the seed format with 10 ms frames is refused, naming audio.frameMs and why', (t) => {
  const error = refusal(configWith((config) => {
    config.audio.format = 'seed';
    config.audio.frameMs = 10;
  }));
  t.is(error.key, 'audio.frameMs');
  t.regex(error.message, /^config key "audio\.frameMs" is 10 with audio\.format "seed": .*20 ms.*\[u16 sequence\]\[960 x i16 samples\]/);
  // 10 ms frames with RTP formats are fine.
  for (const format of ['rtp-opus', 'rtp-l16']) {
    t.notThrows(() => validateConfig(configWith((config) => {
      config.audio.format = format;
      config.audio.frameMs = 10;
    })));
  }
});

test('jitter.minMs above jitter.maxMs is refused, equal is accepted', (t) => {
  const error = refusal(configWith((config) => Object.assign(config.jitter, { minMs: 300, maxMs: 100 })));
  t.is(error.key, 'jitter.minMs');
  t.is(error.message, 'config key "jitter.minMs" (300) must not exceed jitter.maxMs (100)');
  t.notThrows(() => validateConfig(configWith((config) => Object.assign(config.jitter, { minMs: 100, maxMs: 100 }))));
});

test('a missing key, an unknown key and strings out of bounds are refused by name', (t) => {
  const missing = refusal(configWith((config) => delete config.audio.bitrate));
  t.is(missing.message, 'config key "audio.bitrate" is missing; expected an integer from 6000 to 510000');
  const unknown = refusal(configWith((config) => (config.audio.sampleRate = 44100)));
  t.is(unknown.message, 'config key "audio.sampleRate" is not a known setting (check its spelling)');
  t.is(refusal(configWith((config) => (config.unit.name = ''))).key, 'unit.name');
  t.is(refusal(configWith((config) => (config.unit.name = 'x'.repeat(64)))).key, 'unit.name');
  t.is(refusal(configWith((config) => (config.audio.captureDevice = ''))).key, 'audio.captureDevice');
  t.is(refusal(configWith((config) => (config.peers = ['no-port']))).key, 'peers.0');
  t.notThrows(() => validateConfig(configWith((config) => (config.peers = ['10.0.0.7:5000', '[fe80::1]:5000', 'door.local:5000']))));
});

test('a wrong site.secret is refused without showing it', (t) => {
  const secret = 'short secret';
  const error = refusal(configWith((config) => (config.site.secret = secret)));
  t.is(error.key, 'site.secret');
  t.false(error.message.includes(secret));
  t.regex(error.message, /a hidden string of 12 characters/);
  t.notThrows(() => validateConfig(configWith((config) => (config.site.secret = 's'.repeat(16)))));
});
