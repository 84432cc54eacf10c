import test from 'ava';
import { launchSite } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';
import { api, waitForCall } from '../support/unit-harness.js';
import { Observer, startBroker } from './support/mosquitto.js';
import { HA_USER, mqttSettings, startMqttUnit, UNIT_USER, waitForMqtt, withUsers } from './support/mqtt-units.js';

// The broker goes away mid-run (SIGKILL, as a crash or a power cut) and comes back. The broker
// keeps its state on disk (autosaved on every change), so the Home Assistant stand-in's
// persistent session receives what the unit publishes after the restart whichever of the two
// reconnects first.

test('the broker is killed and restarted: the unit reconnects, announces itself again, and reports the rings of meanwhile in order, with their time', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER], persistent: true });
  const ha = await Observer.connect(t, broker, HA_USER, ['homeassistant/#', 'intercom/#'], { clean: false, clientId: 'ha-stand-in' });
  // Real unit processes (src/main.ts, as systemd runs it), with the shipped reconnection backoff.
  const [a, b] = await launchSite(t, [
    { name: 'A', config: { discovery: { requestTimeoutMs: 5000 } } },
    { name: 'B', config: { mqtt: mqttSettings(broker, 'B'), discovery: { requestTimeoutMs: 5000 } } },
  ]);
  for (const [unit, user] of [[a, 'UserA'], [b, 'UserB']] as const) t.is((await unit.api('POST', '/api/users/register', { name: user })).status, 201);
  const status = async () => (await b.api('GET', '/api/status')).body;
  await eventually('B connected', async () => (await status()).mqtt.state === 'connected');
  await eventually('A sees UserB', async () => (await a.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'UserB' && user.online));
  await ha.waitFor('B announced', (message) => message.topic === 'intercom/B/cpu_temperature');

  await broker.kill();
  await eventually('B noticed', async () => (await status()).mqtt.state === 'reconnecting');

  // Two calls ring B while the broker is away: one rejected, one answered and hung up.
  const rung: Array<{ id: string; createdAt: string }> = [];
  for (const outcome of ['rejected', 'hung-up']) {
    const { body } = await a.api('POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
    const callId = body.call.id as string;
    if (outcome === 'hung-up') {
      const accepted = await b.api('POST', '/api/signal/accept', { callId });
      t.is(accepted.body.call?.phase, 'active', `the accept answered ${JSON.stringify(accepted.body)}; A logged ${JSON.stringify(a.logs.slice(-20))}`);
    }
    const ended = await b.api('POST', '/api/signal/end', { callId });
    t.is(ended.body.call.endReason, outcome);
    rung.push({ id: callId, createdAt: ended.body.call.createdAt });
    // B tells A of the end on its own time: A calling again before it heard would be answered busy.
    await eventually('A saw the call end', async () => (await a.api('GET', '/api/calls')).body.current === null);
  }
  t.like((await status()).mqtt, { state: 'reconnecting', ringEvents: { waiting: 2, published: 0 } });

  const from = ha.seen.length;
  await broker.restart();
  const second = await ha.waitFor('the second ring', (message) => message.topic === 'intercom/B/doorbell' && JSON.parse(message.text).call_id === rung[1].id, { from, timeoutMs: 60_000 });
  const rings = ha.seen.slice(from, second.index + 1).filter((message) => message.topic === 'intercom/B/doorbell').map((message) => JSON.parse(message.text));
  t.deepEqual(
    rings.map((event) => [event.call_id, event.rang_at, event.delayed, event.caller]),
    rung.map((call) => [call.id, call.createdAt, true, 'UserA']),
    'both rings, oldest first, with the time they rang',
  );

  // Announced again: availability, every entity, the states as they are now.
  const after = ha.seen.slice(from);
  t.true(after.some((message) => message.topic === 'intercom/B/availability' && message.text === 'online'));
  t.is(after.filter((message) => message.topic.startsWith('homeassistant/') && message.topic.endsWith('/config') && message.text !== '').length, 10);
  await ha.waitFor('the call state', (message) => message.topic === 'intercom/B/call/state' && message.text === 'idle', { from });
  const attributes = await ha.waitFor('the attributes', (message) => message.topic === 'intercom/B/call/attributes', { from });
  t.like(JSON.parse(attributes.text), { last_call_id: rung[1].id, last_end_reason: 'hung-up' });
  t.like(JSON.parse((await ha.waitFor('the last call', (message) => message.topic === 'intercom/B/last_call', { from })).text), { call_id: rung[1].id });

  // Home Assistant can have the rings before the unit has the broker's acknowledgements (PUBACK),
  // which is what the counters count.
  const final = await eventually('both rings acknowledged', async () => {
    const mqtt = (await status()).mqtt;
    return mqtt.ringEvents.published === 2 && mqtt;
  });
  t.like(final, { state: 'connected', connections: 2, ringEvents: { published: 2, delayed: 2, waiting: 0, dropped: 0 } });
  t.true(final.connectionAttempts >= 2, 'it tried again after the broker went away');
  // Its log says what happened; neither it nor the status ever shows the password.
  await b.waitForLog((line) => /MQTT: sending 2 ring event/.test(String(line.msg)));
  t.true(b.logs.some((line) => /connection to .* lost/.test(String(line.msg))));
  const everything = `${JSON.stringify(b.logs)}${b.stderr()}${JSON.stringify(await status())}`;
  t.false(everything.includes(UNIT_USER.password));
  t.log(`reconnected after ${final.connectionAttempts} attempts; its MQTT log:\n${b.logs.filter((line) => line.module === 'mqtt').map((line) => line.msg).join('\n')}`);
});

test('rings older than the backlog limit when the broker returns are dropped and counted, not sent', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER], persistent: true });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#'], { clean: false, clientId: 'ha-stand-in-2' });
  const [a, b] = await Promise.all([
    startMqttUnit(t, broker, 'A', { mqtt: {} }),
    startMqttUnit(t, broker, 'B', { mqttTimings: { reconnect: { minMs: 200, maxMs: 400 }, ringBacklogMs: 300 } }),
  ]);
  await withUsers(a, b);
  await waitForMqtt(b, 'connected', (status) => status.state === 'connected');
  await broker.kill();
  await waitForMqtt(b, 'reconnecting', (status) => status.state === 'reconnecting');
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await api(b, 'POST', '/api/signal/end', { callId: body.call.id });
  await waitForCall(a, (call) => call.id === body.call.id && call.phase === 'ended');
  await waitForMqtt(b, 'keeping the ring', (status) => status.ringEvents.waiting === 1);
  // Longer than the 300 ms limit: the ring is stale by the time the broker is back.
  await new Promise((resolve) => setTimeout(resolve, 600));
  const from = ha.seen.length;
  await broker.restart();
  await waitForMqtt(b, 'reconnected', (candidate) => candidate.connections === 2, 30_000);
  await ha.waitFor('B announced again', (message) => message.topic === 'intercom/B/cpu_temperature', { from });
  t.like(b.unit.mqtt!.status().ringEvents, { published: 0, waiting: 0, dropped: 1 });
  t.is(ha.seen.slice(from).filter((message) => message.topic === 'intercom/B/doorbell').length, 0);
});
