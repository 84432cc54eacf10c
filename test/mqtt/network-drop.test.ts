import test from 'ava';
import { api, waitForCall } from '../support/unit-harness.js';
import { Observer, startBroker } from './support/mosquitto.js';
import { FreezableTcpProxy } from './support/tcp-proxy.js';
import { HA_USER, startMqttUnit, UNIT_USER, waitForMqtt, withUsers } from './support/mqtt-units.js';

// The network between the unit and the broker goes silent (nothing closes: packets just stop), as
// when a Wi-Fi drops. The unit notices by its keep-alive (1 s here, 30 s as shipped), the broker
// by its own and publishes the unit's last will (offline); when the network returns, the unit
// reconnects and sends the ring that was lost on the way.

test('a silent network drop: last will offline, a ring sent into the void is sent again after reconnecting', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const proxy = await FreezableTcpProxy.start(t, { host: '127.0.0.1', port: broker.port });
  // Home Assistant's side of the network stays up: the stand-in talks to the broker directly.
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#']);
  const [a, b] = await Promise.all([
    startMqttUnit(t, broker, 'A', { mqtt: {} }),
    startMqttUnit(t, broker, 'B', {
      mqtt: { url: `mqtt://127.0.0.1:${proxy.port}`, username: UNIT_USER.username, password: UNIT_USER.password, topicPrefix: 'intercom/B' },
      mqttTimings: { reconnect: { minMs: 200, maxMs: 1000 }, keepaliveS: 1, connectTimeoutMs: 1500 },
    }),
  ]);
  await withUsers(a, b);
  await waitForMqtt(b, 'connected', (status) => status.state === 'connected');
  await ha.waitFor('B online', (message) => message.topic === 'intercom/B/availability' && message.text === 'online');
  const from = ha.seen.length;

  proxy.freeze();
  // A ring right away: published into the silent connection, never acknowledged.
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await waitForCall(b, (call) => call.id === body.call.id && call.phase === 'ringing');
  await api(a, 'POST', '/api/signal/end', { callId: body.call.id });
  await waitForMqtt(b, 'the drop noticed', (status) => status.state === 'reconnecting');
  await ha.waitFor("the broker's last will", (message) => message.topic === 'intercom/B/availability' && message.text === 'offline', { from });
  t.is(ha.seen.slice(from).filter((message) => message.topic === 'intercom/B/doorbell').length, 0, 'the ring did not arrive');
  t.like(b.unit.mqtt!.status().ringEvents, { published: 0, waiting: 1 });

  proxy.thaw();
  const ring = await ha.waitFor('the ring, after all', (message) => message.topic === 'intercom/B/doorbell', { from, timeoutMs: 30_000 });
  t.like(JSON.parse(ring.text), { call_id: body.call.id, delayed: true, caller: 'UserA' });
  const online = await ha.waitFor('B online again', (message) => message.topic === 'intercom/B/availability' && message.text === 'online', { from });
  t.true(online.index < ring.index, 'announced before the ring is sent');
  const status = await waitForMqtt(b, 'the ring acknowledged', (candidate) => candidate.ringEvents.published === 1);
  t.like(status, { state: 'connected', ringEvents: { delayed: 1, waiting: 0, dropped: 0 } });
  t.true(status.connections >= 2);
  t.is(ha.seen.slice(from).filter((message) => message.topic === 'intercom/B/doorbell').length, 1, 'sent once');
});
