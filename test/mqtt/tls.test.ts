import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { api } from '../support/unit-harness.js';
import { makeTestPki, Observer, startBroker, type TestPki } from './support/mosquitto.js';
import { HA_USER, mqttSettings, startMqttUnit, UNIT_USER, waitForMqtt } from './support/mqtt-units.js';

// mqtts:// to a broker whose certificate a private CA signed (made here with openssl): the unit
// trusts that CA through mqtt.caFile, and nothing else: a broker certificate from another CA is
// refused, and so is a private CA the unit was not given.

let pkiDir: string;
let ours: TestPki;
let theirs: TestPki;

test.before(async () => {
  pkiDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-mqtt-pki-'));
  [ours, theirs] = await Promise.all([makeTestPki(pkiDir, 'ours'), makeTestPki(pkiDir, 'theirs')]);
});

test.after.always(async () => {
  await rm(pkiDir, { recursive: true, force: true });
});

test('over TLS with the CA in mqtt.caFile: connected, announced, encrypted', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER], tls: { certFile: ours.certFile, keyFile: ours.keyFile } });
  t.true(broker.url.startsWith('mqtts://'));
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#'], { ca: await readFile(ours.caFile), rejectUnauthorized: true });
  const unit = await startMqttUnit(t, broker, 'Secure', { mqtt: mqttSettings(broker, 'Secure', { caFile: ours.caFile }) });
  const status = await waitForMqtt(unit, 'connected', (candidate) => candidate.state === 'connected');
  t.like(status, { tls: true, broker: broker.url });
  await ha.waitFor('the announcement over TLS', (message) => message.topic === 'intercom/Secure/availability' && message.text === 'online');
});

test('a broker certificate from another CA is refused: the unit never connects and says why', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER], tls: { certFile: theirs.certFile, keyFile: theirs.keyFile } });
  const unit = await startMqttUnit(t, broker, 'Careful', { mqtt: mqttSettings(broker, 'Careful', { caFile: ours.caFile }) });
  const status = await waitForMqtt(unit, 'refused the certificate twice', (candidate) => candidate.connectionAttempts >= 2 && candidate.lastError !== null);
  t.like(status, { state: 'reconnecting', connections: 0, tls: true });
  t.regex(status.lastError!, /certificate|self[- ]signed|unable to verify/i);
  t.log(`refused with: ${status.lastError}`);
  t.notRegex(broker.log(), /New client connected/, 'no MQTT session was ever opened');
});

test('a private CA the unit was not given is refused too (the system CAs do not know it)', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER], tls: { certFile: ours.certFile, keyFile: ours.keyFile } });
  const unit = await startMqttUnit(t, broker, 'Default', { mqtt: mqttSettings(broker, 'Default') });
  const status = await waitForMqtt(unit, 'refused', (candidate) => candidate.lastError !== null);
  t.is(status.connections, 0);
  t.regex(status.lastError!, /certificate|self[- ]signed|unable to verify/i);
});

test('an unreadable mqtt.caFile: MQTT is off with the reason, the unit works on, nothing connects', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER], tls: { certFile: ours.certFile, keyFile: ours.keyFile } });
  const missing = path.join(pkiDir, 'no-such-ca.pem');
  const unit = await startMqttUnit(t, broker, 'Broken', { mqtt: mqttSettings(broker, 'Broken', { caFile: missing }) });
  const status = (await api(unit, 'GET', '/api/status')).body.mqtt;
  t.like(status, { configured: true, state: 'error', connectionAttempts: 0 });
  t.regex(status.lastError, /mqtt\.caFile/);
  t.regex(status.lastError, /ENOENT/);
  t.is((await fetch(`${unit.baseUrl}/api/health`)).status, 200);
  t.notRegex(broker.log(), /New connection/);
});
