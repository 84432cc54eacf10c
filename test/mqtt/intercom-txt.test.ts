import test from 'ava';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  MQTT_KEYS,
  parseSettings,
  settingsToConfig,
  // @ts-expect-error: a plain ES module shipped in the image, without type declarations
} from '../../image/overlay/usr/lib/intercom-image/settings.mjs';
import { validateConfig } from '../../src/config/validate.js';
import defaults from '../../config/default.json' with { type: 'json' };

// The MQTT settings on the SD card (intercom.txt): they become the service's mqtt.* keys, checked
// the way the service checks them.

const SHIPPED_SETTINGS = fileURLToPath(new URL('../../image/overlay/boot/firmware/intercom.txt', import.meta.url));

test('the shipped intercom.txt offers every MQTT key, empty (MQTT off)', async (t) => {
  const text = await readFile(SHIPPED_SETTINGS, 'utf8');
  const { values, problems } = parseSettings(text);
  t.deepEqual(problems, []);
  for (const key of Object.keys(MQTT_KEYS)) t.regex(text, new RegExp(`^${key}=$`, 'm'), key);
  t.false([...values.keys()].some((key: string) => key.startsWith('mqtt_')));
});

test('MQTT settings become the service configuration, which the service accepts', (t) => {
  const { values, problems: parseProblems } = parseSettings(
    [
      'mqtt_url=mqtts://homeassistant.local:8883',
      'mqtt_username=intercom',
      'mqtt_password=p#ss=word with spaces',
      'mqtt_topic_prefix=home/intercom/front',
      'mqtt_discovery_prefix=ha',
      'mqtt_ca_file=/boot/firmware/mqtt-ca.pem',
      'mqtt_allow_door_open=yes',
    ].join('\n'),
  );
  t.deepEqual(parseProblems, []);
  const { config, problems } = settingsToConfig(values, defaults, validateConfig);
  t.deepEqual(problems, []);
  t.deepEqual(config, {
    mqtt: {
      url: 'mqtts://homeassistant.local:8883',
      username: 'intercom',
      password: 'p#ss=word with spaces',
      topicPrefix: 'home/intercom/front',
      discoveryPrefix: 'ha',
      caFile: '/boot/firmware/mqtt-ca.pem',
      allowDoorOpen: true,
    },
  });
  const merged = validateConfig({ ...defaults, dataDir: '/tmp/x', mqtt: { ...defaults.mqtt, ...config.mqtt } });
  t.is(merged.mqtt.url, 'mqtts://homeassistant.local:8883');
});

test('a broker address that is not an MQTT URL is reported and left out, so the service still starts', (t) => {
  for (const url of ['homeassistant.local', 'http://homeassistant.local', 'mqtt://user:pass@broker']) {
    const { values } = parseSettings(`mqtt_url=${url}\nmqtt_allow_door_open=maybe\n`);
    const { config, problems } = settingsToConfig(values, defaults, validateConfig);
    t.deepEqual(config, {}, url);
    t.is(problems.length, 2);
    t.regex(problems[0], /^mqtt_url: is not mqtt:\/\/host\[:port\]/);
    t.regex(problems[1], /^mqtt_allow_door_open: "maybe" is not yes or no/);
    t.false(problems[0].includes(url), 'the value is not repeated (it may hold a password)');
  }
});
