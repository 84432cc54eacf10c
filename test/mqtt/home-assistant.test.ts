import test from 'ava';
import { api, waitForCall } from '../support/unit-harness.js';
import { startUnitWithGpio } from '../support/gpio-unit.js';
import { Observer, startBroker } from './support/mosquitto.js';
import { HA_USER, mqttSettings, startMqttUnit, TEST_TIMINGS, UNIT_USER, waitForMqtt, withUsers } from './support/mqtt-units.js';
import { discoveryProblems } from './support/ha-schema.js';
import { MAX_COMMAND_BYTES } from '../../src/mqtt/bridge-commands.js';

// Units talking to a real Mosquitto broker (password file, no anonymous clients) with a stand-in
// for Home Assistant on the other side: an MQTT client that reads what the units publish and sends
// what Home Assistant would send.

const RELAY_PIN = 512 + 26;

test("discovery: one device per unit, every entity per Home Assistant's schema, retained, available; states retained", async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['homeassistant/#', 'intercom/#']);
  // The default topic prefix: intercom/<unit id>.
  const unit = await startMqttUnit(t, broker, 'Front door', { mqtt: { ...mqttSettings(broker, 'x'), topicPrefix: null } });
  const prefix = `intercom/${unit.unit.unitId}`;
  await waitForMqtt(unit, 'connected', (status) => status.state === 'connected');
  await ha.waitFor('the temperature state', (message) => message.topic === `${prefix}/cpu_temperature`);

  const configs = ha.on((topic) => topic.startsWith('homeassistant/') && topic.endsWith('/config'));
  const announced = configs.filter((message) => message.text !== '');
  t.is(announced.length, 10, 'ten entities without a door relay');
  for (const message of announced) t.deepEqual(discoveryProblems(message.topic, message.text), [], message.topic);
  t.deepEqual(
    configs.filter((message) => message.text === '').map((message) => message.topic.split('/')[1]),
    ['lock', 'button'],
    'the door entities are removed where no relay is wired',
  );
  const doorbell = JSON.parse(announced.find((message) => message.topic.startsWith('homeassistant/event/'))!.text);
  t.like(doorbell, {
    device_class: 'doorbell',
    event_types: ['ring'],
    state_topic: `${prefix}/doorbell`,
    availability_topic: `${prefix}/availability`,
    device: { name: 'Front door', sw_version: '0.0.0-test', configuration_url: `http://127.0.0.1:${unit.port}/` },
  });

  t.is(ha.on(`${prefix}/availability`).at(-1)?.text, 'online');
  t.is(ha.on(`${prefix}/call/state`).at(-1)?.text, 'idle');
  t.is(ha.on(`${prefix}/do_not_disturb/state`).at(-1)?.text, 'OFF');
  t.is(ha.on(`${prefix}/cpu_temperature`).at(-1)?.text, 'None', 'this machine reports no temperature');
  t.like(JSON.parse(ha.on(`${prefix}/call/attributes`).at(-1)!.text), { call_id: null, peer: null, last_end_reason: null });

  // Home Assistant restarting later finds it all on the broker: retained.
  const later = await Observer.connect(t, broker, HA_USER, ['homeassistant/#', `${prefix}/#`]);
  await later.waitFor('the retained temperature', (message) => message.topic === `${prefix}/cpu_temperature`);
  t.true(later.seen.every((message) => message.retained), 'everything but events is retained');
  t.is(later.on((topic) => topic.endsWith('/config')).length, 10, 'removed entities leave no retained config');
  t.is(later.on(`${prefix}/doorbell`).length, 0, 'events are never retained');

  const status = (await api(unit, 'GET', '/api/status')).body.mqtt;
  t.like(status, { configured: true, state: 'connected', broker: broker.url, tls: false, authenticated: true, topicPrefix: prefix, discoveryPrefix: 'homeassistant', connections: 1 });

  // A graceful stop says offline (and retains it).
  await unit.close();
  await ha.waitFor('offline', (message) => message.topic === `${prefix}/availability` && message.text === 'offline');
});

test('a call between two units: the callee rings in Home Assistant, and the call state goes idle, ringing, active, idle', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#']);
  const [a, b] = await Promise.all([startMqttUnit(t, broker, 'A'), startMqttUnit(t, broker, 'B')]);
  await withUsers(a, b);
  await Promise.all([a, b].map((unit) => waitForMqtt(unit, 'connected', (status) => status.state === 'connected')));
  await ha.waitFor('B idle', (message) => message.topic === 'intercom/B/call/state');
  const from = ha.seen.length;

  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  const callId = initiated.body.call.id as string;
  const ring = await ha.waitFor('the ring event', (message) => message.topic === 'intercom/B/doorbell', { from });
  const event = JSON.parse(ring.text);
  t.like(event, { event_type: 'ring', caller: 'UserA', caller_unit: 'A', callee: 'UserB', call_id: callId, do_not_disturb: false, delayed: false });
  t.is(event.rang_at, (await waitForCall(b, (call) => call.id === callId)).createdAt);
  t.false(ring.retained);

  await ha.waitFor('B ringing', (message) => message.topic === 'intercom/B/call/state' && message.text === 'ringing', { from });
  t.like(JSON.parse(ha.on('intercom/B/call/attributes').at(-1)!.text), { call_id: callId, direction: 'incoming', user: 'UserB', peer: 'UserA', peer_unit: 'A' });
  await api(b, 'POST', '/api/signal/accept', { callId });
  await ha.waitFor('B active', (message) => message.topic === 'intercom/B/call/state' && message.text === 'active', { from });
  await waitForCall(a, (call) => call.id === callId && call.phase === 'active');
  await api(a, 'POST', '/api/signal/end', { callId });
  await ha.waitFor('B idle again', (message) => message.topic === 'intercom/B/call/state' && message.text === 'idle', { from });
  await ha.waitFor('A idle again', (message) => message.topic === 'intercom/A/call/state' && message.text === 'idle', { from });

  const after = ha.seen.slice(from);
  const sequence = (prefix: string) =>
    after.filter((message) => message.topic === `${prefix}/call/state` || message.topic === `${prefix}/doorbell`).map((message) => (message.topic.endsWith('doorbell') ? 'RING' : message.text));
  t.deepEqual(sequence('intercom/B'), ['RING', 'ringing', 'active', 'idle'], 'the callee: the ring, then each state once, in order');
  t.deepEqual(sequence('intercom/A'), ['ringing', 'active', 'idle'], 'the caller: its states, and no doorbell');
  t.like(JSON.parse(ha.on('intercom/B/call/attributes').at(-1)!.text), { call_id: null, last_call_id: callId, last_peer: 'UserA', last_end_reason: 'hung-up' });
  // The media double reports 99 packets received and 1 lost, 1.5 ms jitter, 40 ms delay, 20 ms concealed.
  const lastCall = JSON.parse(ha.on('intercom/B/last_call').at(-1)!.text);
  t.like(lastCall, { call_id: callId, peer: 'UserA', end_reason: 'hung-up', loss_percent: 1, jitter_ms: 1.5, delay_ms: 40, concealed_ms: 20, packets_received: 99, packets_lost: 1 });
  t.is(ha.on('intercom/A/doorbell').length, 0);
});

test('Home Assistant opens the door: the relay pulses during a call; outside one only with mqtt.allowDoorOpen', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#', 'homeassistant/#']);
  const door = await startUnitWithGpio('Door', { gpio: { doorRelay: 26 }, unit: { mqtt: mqttSettings(broker, 'Door'), mqttTimings: TEST_TIMINGS, discovery: { requestTimeoutMs: 5000 } } });
  t.teardown(() => door.close());
  const caller = await startMqttUnit(t, broker, 'Hall', { mqtt: {} });
  await withUsers(door, caller);
  await waitForMqtt(door, 'connected', (status) => status.state === 'connected');
  const relay = door.ports.output(RELAY_PIN);

  const lock = await ha.waitFor('the lock', (message) => message.topic.startsWith('homeassistant/lock/') && message.text !== '');
  t.deepEqual(discoveryProblems(lock.topic, lock.text), []);
  await ha.waitFor('the open button', (message) => message.topic.startsWith('homeassistant/button/') && message.topic.includes('/open_door/') && message.text !== '');
  await ha.waitFor('the door locked', (message) => message.topic === 'intercom/Door/door/state' && message.text === 'LOCKED');

  // No call: refused (mqtt.allowDoorOpen is false), the relay never moves.
  await ha.publish('intercom/Door/door/set', 'OPEN');
  await waitForMqtt(door, 'refused the door outside a call', (status) => status.commands.refusedByReason['door-outside-call'] === 1);
  t.deepEqual(relay.writes.filter((write) => write.level === 1), []);

  // In a call: the lock's OPEN pulses the relay, and the door's state follows it.
  const { body } = await api(caller, 'POST', '/api/signal/initiate', { from: 'UserHall', to: 'UserDoor' });
  await api(door, 'POST', '/api/signal/accept', { callId: body.call.id });
  const from = ha.seen.length;
  await ha.publish('intercom/Door/door/set', 'OPEN');
  await ha.waitFor('the door open', (message) => message.topic === 'intercom/Door/door/state' && message.text === 'OPEN', { from });
  t.is(relay.level, 1, 'relay energised');
  await door.clock.advance(door.config.doorPulseMs);
  t.is(relay.level, 0);
  await ha.waitFor('the door locked again', (message) => message.topic === 'intercom/Door/door/state' && message.text === 'LOCKED', { from });
  // The button does the same.
  await ha.publish('intercom/Door/door/open', 'PRESS');
  await waitForMqtt(door, 'two accepted openings', (status) => status.commands.accepted === 2);
  t.is(relay.level, 1);
  await door.clock.advance(door.config.doorPulseMs);
  t.deepEqual(relay.writes.map((write) => write.level), [1, 0, 1, 0], 'two pulses');
  await api(door, 'POST', '/api/signal/end', { callId: body.call.id });
});

test('with mqtt.allowDoorOpen the door opens from a dashboard outside a call; a unit without a relay refuses and says so', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#']);
  const door = await startUnitWithGpio('Gate', { gpio: { doorRelay: 26 }, unit: { mqtt: mqttSettings(broker, 'Gate', { allowDoorOpen: true }), mqttTimings: TEST_TIMINGS } });
  t.teardown(() => door.close());
  const plain = await startMqttUnit(t, broker, 'Plain');
  await Promise.all([door, plain].map((unit) => waitForMqtt(unit, 'connected', (status) => status.state === 'connected')));
  await ha.waitFor('the gate locked', (message) => message.topic === 'intercom/Gate/door/state' && message.text === 'LOCKED');

  await ha.publish('intercom/Gate/door/set', 'UNLOCK');
  await ha.waitFor('the gate open', (message) => message.topic === 'intercom/Gate/door/state' && message.text === 'OPEN');
  t.is(door.ports.output(RELAY_PIN).level, 1);
  // A second opening while it is open does not lengthen the pulse.
  await ha.publish('intercom/Gate/door/open', 'PRESS');
  await waitForMqtt(door, 'refused while open', (status) => status.commands.refusedByReason['already-open'] === 1);
  await door.clock.advance(door.config.doorPulseMs);
  // LOCK re-states the door (a strike locks itself).
  await ha.publish('intercom/Gate/door/set', 'LOCK');
  await waitForMqtt(door, 'the lock accepted', (status) => status.commands.accepted === 2);

  await ha.publish('intercom/Plain/door/set', 'OPEN');
  await waitForMqtt(plain, 'refused: no GPIO', (status) => status.commands.refused === 1);
  t.deepEqual(plain.unit.mqtt!.status().commands.refusedByReason, { 'gpio-unavailable': 1 });
});

test('bad and oversized payloads on every command topic are refused and counted; the unit works on', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#']);
  // A retained command left on the broker reaches the unit when it subscribes: refused, or every
  // reconnection would replay it.
  await ha.publish('intercom/Target/door/open', 'PRESS', { retain: true });
  t.teardown(() => ha.publish('intercom/Target/door/open', '', { retain: true }));
  const unit = await startMqttUnit(t, broker, 'Target');
  await waitForMqtt(unit, 'connected', (status) => status.state === 'connected');
  const commandTopics = ['door/set', 'door/open', 'do_not_disturb/set', 'call/hang_up', 'call/start'].map((topic) => `intercom/Target/${topic}`);
  const bad: Array<[string, string | Buffer]> = [
    ['empty', ''],
    ['lower case', 'on'],
    ['JSON', '{"state":"ON"}'],
    ['binary', Buffer.from([0x00, 0xff, 0x10, 0x80])],
    ['a word and a newline', 'PRESS\n'],
    ['oversized', 'P'.repeat(MAX_COMMAND_BYTES + 1)],
    ['very oversized', Buffer.alloc(256 * 1024, 0x41)],
  ];
  for (const topic of commandTopics) {
    for (const [, payload] of bad) await ha.publish(topic, payload);
  }
  const total = commandTopics.length * bad.length + 1;
  const status = await waitForMqtt(unit, `${total} refusals`, (candidate) => candidate.commands.refused === total);
  t.deepEqual(status.commands.refusedByReason, { 'bad-payload': commandTopics.length * 5, oversized: commandTopics.length * 2, retained: 1 });
  t.is(status.commands.accepted, 0);
  t.is(status.state, 'connected', 'still connected');
  t.like((await api(unit, 'GET', '/api/status')).body.mqtt.commands, { refused: total });
  t.false(unit.unit.doNotDisturb.enabled);
  t.is((await fetch(`${unit.baseUrl}/api/health`)).status, 200);

  // And it still obeys a good command.
  await ha.publish('intercom/Target/do_not_disturb/set', 'ON');
  await ha.waitFor('do-not-disturb on', (message) => message.topic === 'intercom/Target/do_not_disturb/state' && message.text === 'ON');
  t.true(unit.unit.doNotDisturb.enabled);
});

test('do-not-disturb from Home Assistant: calls are answered busy, the ring is still reported with do_not_disturb, the panel side sees it too', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#']);
  const [a, b] = await Promise.all([startMqttUnit(t, broker, 'A'), startMqttUnit(t, broker, 'B')]);
  await withUsers(a, b);
  await waitForMqtt(b, 'connected', (status) => status.state === 'connected');

  await ha.publish('intercom/B/do_not_disturb/set', 'ON');
  await ha.waitFor('do-not-disturb on', (message) => message.topic === 'intercom/B/do_not_disturb/state' && message.text === 'ON');
  t.like((await api(b, 'GET', '/api/do-not-disturb')).body, { enabled: true, changedBy: 'mqtt' });

  const from = ha.seen.length;
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.like(body.call, { phase: 'ended', endReason: 'busy' });
  const ring = await ha.waitFor('the ring', (message) => message.topic === 'intercom/B/doorbell', { from });
  t.like(JSON.parse(ring.text), { event_type: 'ring', caller: 'UserA', do_not_disturb: true });
  await ha.waitFor('the busy end in the attributes', (message) => message.topic === 'intercom/B/call/attributes' && JSON.parse(message.text).last_end_reason === 'busy', { from });
  t.false(ha.seen.slice(from).some((message) => message.topic === 'intercom/B/call/state' && message.text === 'ringing'), 'B never rang');

  // Switched off in the panel (the API), Home Assistant's switch follows.
  await api(b, 'PUT', '/api/do-not-disturb', { enabled: false });
  await ha.waitFor('do-not-disturb off', (message) => message.topic === 'intercom/B/do_not_disturb/state' && message.text === 'OFF', { from });
});

test('the hang-up and call buttons act like the panel; refusals name the reason', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#']);
  // The call button calls gpio.callTarget: the shipped "Front door".
  const [door, kitchen] = await Promise.all([startMqttUnit(t, broker, 'Door', { mqtt: {} }), startMqttUnit(t, broker, 'Kitchen')]);
  await waitForMqtt(kitchen, 'connected', (status) => status.state === 'connected');

  await ha.publish('intercom/Kitchen/call/start', 'PRESS');
  await waitForMqtt(kitchen, 'no local user', (status) => status.commands.refusedByReason['no-local-user'] === 1);
  await api(kitchen, 'POST', '/api/users/register', { name: 'Kitchen' });
  await ha.publish('intercom/Kitchen/call/start', 'PRESS');
  await waitForMqtt(kitchen, 'unknown user', (status) => status.commands.refusedByReason['unknown-user'] === 1);
  await ha.publish('intercom/Kitchen/call/hang_up', 'PRESS');
  await waitForMqtt(kitchen, 'no call', (status) => status.commands.refusedByReason['no-call'] === 1);

  await api(door, 'POST', '/api/users/register', { name: 'Front door' });
  kitchen.unit.directory.addCandidate({ host: '127.0.0.1', port: door.port, source: 'static' });
  door.unit.directory.addCandidate({ host: '127.0.0.1', port: kitchen.port, source: 'static' });
  await Promise.all([kitchen.unit.directory.refresh(), door.unit.directory.refresh()]);
  const from = ha.seen.length;
  await ha.publish('intercom/Kitchen/call/start', 'PRESS');
  const ringing = await waitForCall(door, (call) => call.phase === 'ringing' && call.caller.user === 'Kitchen' && call.callee.user === 'Front door');
  await ha.waitFor('Kitchen ringing', (message) => message.topic === 'intercom/Kitchen/call/state' && message.text === 'ringing', { from });
  await ha.publish('intercom/Kitchen/call/hang_up', 'PRESS');
  t.is((await waitForCall(door, (call) => call.id === ringing.id && call.phase === 'ended')).endReason, 'hung-up');
  await ha.waitFor('Kitchen idle', (message) => message.topic === 'intercom/Kitchen/call/state' && message.text === 'idle', { from });
  t.like(kitchen.unit.mqtt!.status().commands, { accepted: 2, refused: 3 });
});

test("Home Assistant's birth message makes every unit announce itself again", async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['homeassistant/#', 'intercom/#']);
  const unit = await startMqttUnit(t, broker, 'Porch');
  await waitForMqtt(unit, 'connected', (status) => status.state === 'connected');
  await ha.waitFor('the first announcement', (message) => message.topic === 'intercom/Porch/cpu_temperature');
  const from = ha.seen.length;
  await ha.publish('homeassistant/status', 'offline');
  await ha.publish('homeassistant/status', 'online');
  await ha.waitFor('the states again', (message) => message.topic === 'intercom/Porch/cpu_temperature', { from });
  const again = ha.seen.slice(from).filter((message) => message.topic.endsWith('/config') && message.text !== '');
  t.is(again.length, 10);
  t.is(ha.seen.slice(from).find((message) => message.topic === 'intercom/Porch/availability')?.text, 'online');
  t.is(ha.seen.slice(from).find((message) => message.topic === 'intercom/Porch/call/state')?.text, 'idle');
  // A retained birth message (the past, seen at every connection) does not count as a restart.
  await ha.publish('homeassistant/status', 'online', { retain: true });
  t.teardown(() => ha.publish('homeassistant/status', '', { retain: true }));
});

test('a wrong password: the unit keeps trying with backoff, says why, and never shows the password', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const unit = await startMqttUnit(t, broker, 'Wrong', { mqtt: mqttSettings(broker, 'Wrong', { password: 'not-the-Password-9' }) });
  const status = await waitForMqtt(unit, 'refused twice', (candidate) => candidate.connectionAttempts >= 2 && candidate.lastError !== null);
  t.like(status, { state: 'reconnecting', connections: 0 });
  t.regex(status.lastError!, /Not authorized/i);
  const shown = JSON.stringify((await api(unit, 'GET', '/api/status')).body);
  t.false(shown.includes('not-the-Password-9'));
  t.false(shown.includes(UNIT_USER.username), 'not even the user name');
  t.regex(broker.log(), /not authorised|not authorized/i);
});
