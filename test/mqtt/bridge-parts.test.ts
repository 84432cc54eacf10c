import test from 'ava';
import { bridgeTopics, commandTopics } from '../../src/mqtt/bridge-topics.js';
import { MAX_COMMAND_BYTES, parseCommand } from '../../src/mqtt/bridge-commands.js';
import { discoveryMessages, nodeIdOf } from '../../src/mqtt/ha-discovery.js';
import { RingBacklog } from '../../src/mqtt/ring-backlog.js';
import { ReconnectBackoff } from '../../src/mqtt/reconnect-backoff.js';
import { panelUrl } from '../../src/mqtt/panel-url.js';
import { brokerLabel, mqttConfigProblem, topicPrefixOf } from '../../src/mqtt/mqtt-config.js';
import { validateConfig } from '../../src/config/validate.js';
import defaults from '../../config/default.json' with { type: 'json' };
import { COMPONENT_SCHEMAS, discoveryProblems, publishTopic, subscribeTopic } from './support/ha-schema.js';

// The MQTT bridge's pure parts: discovery against Home Assistant's schema, command parsing, the
// ring backlog, the backoff, the panel URL and the configuration checks.

const UNIT_ID = '0f4c2a9e-1b2d-4c3e-8f5a-6b7c8d9e0a1b';
const topics = bridgeTopics('intercom/front-door');

function messages(doorRelay: boolean) {
  return discoveryMessages({
    unit: { unitId: UNIT_ID, unitName: 'Front door', version: '1.2.3', panelUrl: 'http://192.168.1.20:5000/' },
    discoveryPrefix: 'homeassistant',
    topics,
    doorRelay,
    callTarget: 'Kitchen',
  });
}

test("every discovery message follows Home Assistant's documented schema for its component", (t) => {
  for (const message of messages(true)) {
    t.truthy(message.config, message.topic);
    t.deepEqual(discoveryProblems(message.topic, JSON.stringify(message.config)), [], message.topic);
  }
  const components = messages(true).map((message) => `${message.component}/${message.objectId}`);
  t.deepEqual(components, [
    'event/doorbell',
    'sensor/call_state',
    'button/call',
    'button/hang_up',
    'switch/do_not_disturb',
    'lock/door',
    'button/open_door',
    'sensor/cpu_temperature',
    'sensor/last_call_loss',
    'sensor/last_call_jitter',
    'sensor/last_call_delay',
    'sensor/last_call_concealed',
  ]);
  const unique = new Set(messages(true).map((message) => message.config!.unique_id));
  t.is(unique.size, 12, 'unique ids are unique');
});

test('the schema check itself catches what Home Assistant would refuse or silently ignore', (t) => {
  const doorbell = messages(true)[0];
  const broken = (change: Record<string, unknown>) => discoveryProblems(doorbell.topic, JSON.stringify({ ...doorbell.config, ...change }));
  t.regex(broken({ state_topic: undefined }).join(), /lacks the required state_topic/);
  t.regex(broken({ event_type: ['ring'] }).join(), /event_type is not a key of event/);
  t.regex(broken({ event_types: ['press'] }).join(), /must have the event type ring/);
  t.regex(broken({ device: { name: 'x' } }).join(), /identifiers or connections/);
  t.regex(broken({ device: { identifiers: ['x'], configuration_url: 'ftp://x' } }).join(), /configuration_url/);
  t.regex(broken({ state_topic: 'a/#/b' }).join(), /wildcard/);
  const sensor = messages(true)[1];
  t.regex(discoveryProblems(sensor.topic, JSON.stringify({ ...sensor.config, unit_of_measurement: 'x' })).join(), /options are not allowed/);
  t.regex(discoveryProblems('homeassistant/light/x/y/config', '{}').join(), /not one checked/);
  t.deepEqual(Object.keys(COMPONENT_SCHEMAS).sort(), ['button', 'event', 'lock', 'sensor', 'switch']);
});

test('one device per unit: its name, model, software version and panel URL; every entity available through the unit', (t) => {
  for (const message of messages(false).filter((candidate) => candidate.config)) {
    t.like(message.config, {
      availability_topic: 'intercom/front-door/availability',
      payload_available: 'online',
      payload_not_available: 'offline',
      device: {
        identifiers: [`pi-intercom-${UNIT_ID}`],
        name: 'Front door',
        model: 'pi-intercom unit',
        sw_version: '1.2.3',
        configuration_url: 'http://192.168.1.20:5000/',
      },
    });
    t.true(message.topic.startsWith(`homeassistant/${message.component}/${nodeIdOf(UNIT_ID)}/`), message.topic);
  }
  const doorbell = messages(false)[0].config!;
  t.like(doorbell, { device_class: 'doorbell', event_types: ['ring'], state_topic: 'intercom/front-door/doorbell' });
  t.like(messages(false)[1].config, { device_class: 'enum', options: ['idle', 'ringing', 'active'], json_attributes_topic: 'intercom/front-door/call/attributes' });
  t.like(messages(false)[2].config, { name: 'Call Kitchen', command_topic: 'intercom/front-door/call/start' });
});

test('without a door relay the lock and the open button are removed (empty retained config), not announced', (t) => {
  const withoutRelay = messages(false);
  t.deepEqual(
    withoutRelay.filter((message) => message.config === null).map((message) => message.topic),
    [`homeassistant/lock/${nodeIdOf(UNIT_ID)}/door/config`, `homeassistant/button/${nodeIdOf(UNIT_ID)}/open_door/config`],
  );
  t.like(messages(true)[5].config, { payload_open: 'OPEN', payload_lock: 'LOCK', payload_unlock: 'UNLOCK', state_locked: 'LOCKED', state_open: 'OPEN' });
});

test('every topic is a valid MQTT topic, and commands arrive only on their own topics', (t) => {
  for (const topic of Object.values(topics)) {
    t.is(publishTopic(topic), null, topic);
    t.is(subscribeTopic(topic), null, topic);
  }
  t.is(new Set(commandTopics(topics)).size, 5);
});

test('commands: the announced words only, exactly, short, never retained', (t) => {
  const parse = (topic: string, text: string | Buffer, retained = false) => parseCommand(topics, topic, Buffer.isBuffer(text) ? text : Buffer.from(text), retained);
  t.deepEqual(parse(topics.doorSet, 'OPEN'), { ok: true, command: { kind: 'open-door' } });
  t.deepEqual(parse(topics.doorSet, 'UNLOCK'), { ok: true, command: { kind: 'open-door' } });
  t.deepEqual(parse(topics.doorSet, 'LOCK'), { ok: true, command: { kind: 'lock-door' } });
  t.deepEqual(parse(topics.doorOpen, 'PRESS'), { ok: true, command: { kind: 'open-door' } });
  t.deepEqual(parse(topics.dndSet, 'ON'), { ok: true, command: { kind: 'do-not-disturb', enabled: true } });
  t.deepEqual(parse(topics.dndSet, 'OFF'), { ok: true, command: { kind: 'do-not-disturb', enabled: false } });
  t.deepEqual(parse(topics.hangUp, 'PRESS'), { ok: true, command: { kind: 'hang-up' } });
  t.deepEqual(parse(topics.callStart, 'PRESS'), { ok: true, command: { kind: 'call-target' } });
  for (const [topic, text] of [
    [topics.doorSet, 'open'],
    [topics.doorSet, ' OPEN'],
    [topics.doorOpen, ''],
    [topics.dndSet, 'true'],
    [topics.hangUp, 'PRESS\n'],
    [topics.callStart, '{"press":true}'],
    [topics.doorSet, 'constructor'],
    [topics.doorSet, '__proto__'],
  ]) {
    t.like(parse(topic, text), { ok: false, reason: 'bad-payload' }, `${topic} ${JSON.stringify(text)}`);
  }
  t.like(parse(topics.doorSet, Buffer.from([0xff, 0xfe, 0x00])), { ok: false, reason: 'bad-payload' });
  t.like(parse(topics.doorSet, 'x'.repeat(MAX_COMMAND_BYTES + 1)), { ok: false, reason: 'oversized' });
  t.like(parse(topics.doorSet, 'OPEN', true), { ok: false, reason: 'retained' });
  t.like(parse('intercom/front-door/door/state', 'OPEN'), { ok: false, reason: 'unknown-topic' });
});

test('ring backlog: oldest first, only what is younger than the limit, bounded', (t) => {
  const backlog = new RingBacklog<string>(60_000, 3);
  backlog.add('first', 1000);
  backlog.add('third', 30_000);
  backlog.add('second', 20_000);
  t.is(backlog.size, 3);
  const { send, dropped } = backlog.take(70_500);
  t.deepEqual(send.map((kept) => kept.item), ['second', 'third'], 'the one from 69.5 s ago is dropped; the rest in time order');
  t.is(dropped, 1);
  for (let index = 0; index < 5; index++) backlog.add(`ring ${index}`, 100_000 + index);
  t.is(backlog.size, 3);
  t.deepEqual(backlog.take(100_010).send.map((kept) => kept.item), ['ring 2', 'ring 3', 'ring 4']);
  t.is(backlog.dropped, 3);
});

test('reconnection backoff doubles up to its ceiling, with a little jitter, and starts over after a success', (t) => {
  const backoff = new ReconnectBackoff(1000, 30_000, () => 0);
  t.deepEqual(Array.from({ length: 7 }, () => backoff.next()), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  backoff.reset();
  t.is(backoff.next(), 1000);
  const jittered = new ReconnectBackoff(1000, 30_000, () => 0.999);
  t.true(jittered.next() <= 1250);
});

test("the panel URL: the listening address, else the first LAN address, else <hostname>.local", (t) => {
  t.is(panelUrl('127.0.0.1', 5000), 'http://127.0.0.1:5000/');
  t.is(panelUrl('fd00::5', 5000), 'http://[fd00::5]:5000/');
  const lan = { lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }], eth0: [{ address: '192.168.1.20', family: 'IPv4', internal: false }] };
  t.is(panelUrl('0.0.0.0', 5000, lan as never, 'front-door'), 'http://192.168.1.20:5000/');
  t.is(panelUrl('0.0.0.0', 5000, { lo: lan.lo } as never, 'front-door'), 'http://front-door.local:5000/');
});

test('configuration: off by default, URLs without credentials, cross-key checks name the key, the password is never echoed', (t) => {
  const base = validateConfig({ ...defaults, dataDir: '/tmp/x' });
  t.is(base.mqtt.url, null);
  t.is(base.mqtt.discoveryPrefix, 'homeassistant');
  t.false(base.mqtt.allowDoorOpen);
  const withMqtt = (mqtt: Record<string, unknown>) => () => validateConfig({ ...defaults, dataDir: '/tmp/x', mqtt: { ...defaults.mqtt, ...mqtt } });
  t.notThrows(withMqtt({ url: 'mqtt://homeassistant.local:1883', username: 'u', password: 'p' }));
  t.notThrows(withMqtt({ url: 'mqtts://[fd00::1]:8883', caFile: '/etc/intercom/ca.pem' }));
  t.throws(withMqtt({ url: 'http://broker' }), { message: /config key "mqtt.url"/ });
  t.throws(withMqtt({ url: 'mqtt://user:secret@broker' }), { message: /config key "mqtt.url"/ });
  t.throws(withMqtt({ topicPrefix: '/leading' }), { message: /config key "mqtt.topicPrefix"/ });
  t.throws(withMqtt({ topicPrefix: 'home/+/x' }), { message: /config key "mqtt.topicPrefix"/ });
  t.throws(withMqtt({ discoveryPrefix: 'ha#' }), { message: /config key "mqtt.discoveryPrefix"/ });
  t.throws(withMqtt({ url: 'mqtt://broker', password: 'only-a-password' }), { message: /config key "mqtt.password" is set without mqtt.username/ });
  t.throws(withMqtt({ url: 'mqtt://broker', caFile: '/ca.pem' }), { message: /config key "mqtt.caFile"/ });
  t.throws(withMqtt({ allowDoorOpen: 'yes' }), { message: /config key "mqtt.allowDoorOpen"/ });
  t.throws(withMqtt({ colour: 'blue' }), { message: /config key "mqtt.colour" is not a known setting/ });
  const numeric = t.throws(withMqtt({ url: 'mqtt://broker', username: 'u', password: 73_519_402 }));
  t.regex(numeric!.message, /config key "mqtt.password" is a hidden number/);
  const long = t.throws(withMqtt({ url: 'mqtt://broker', username: 'u', password: 'Sesame-'.repeat(40) }));
  t.notRegex(long!.message, /Sesame/);
  t.is(mqttConfigProblem({ ...base.mqtt, url: 'mqtt://x' }), null);
  t.is(brokerLabel('mqtt://broker'), 'mqtt://broker:1883');
  t.is(brokerLabel('mqtts://broker'), 'mqtts://broker:8883');
  t.is(brokerLabel('mqtt://[fd00::1]:1884/'), 'mqtt://[fd00::1]:1884');
  t.is(topicPrefixOf(base.mqtt, UNIT_ID), `intercom/${UNIT_ID}`);
});
