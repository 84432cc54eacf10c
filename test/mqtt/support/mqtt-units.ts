import { api, connectUnits, startUnit, type TestUnit, type TestUnitOptions } from '../../support/unit-harness.js';
import type { TeardownHost } from '../../support/unit-process.js';
import type { MqttStatus } from '../../../src/mqtt/mqtt-status.js';
import type { Broker, BrokerUser } from './mosquitto.js';

/** The broker users of the MQTT tests: one for the units, one for the Home Assistant stand-in. */
export const UNIT_USER: BrokerUser = { username: 'unit-login-q7', password: 'unit-secret-Zq8u' };
export const HA_USER: BrokerUser = { username: 'homeassistant', password: 'ha-secret-Pw3k' };

/** Fast reconnection for tests (the shipped backoff starts at 1 s). */
export const TEST_TIMINGS = { reconnect: { minMs: 200, maxMs: 1000 } };

/** MQTT settings of a unit on `broker` whose topics live under intercom/<name>. */
export function mqttSettings(broker: Broker, name: string, extra: TestUnitOptions['mqtt'] = {}): TestUnitOptions['mqtt'] {
  return { url: broker.url, username: UNIT_USER.username, password: UNIT_USER.password, topicPrefix: `intercom/${name}`, ...extra };
}

/** A harness unit (createUnit, media double) connected to `broker`, stopped when the test ends. */
export async function startMqttUnit(t: TeardownHost, broker: Broker, name: string, options: TestUnitOptions = {}): Promise<TestUnit> {
  // Unit-to-unit requests get 5 s (not the harness's 1 s): a loaded 2-core machine is slow to answer.
  const unit = await startUnit(name, { mqtt: mqttSettings(broker, name), mqttTimings: TEST_TIMINGS, discovery: { requestTimeoutMs: 5000 }, ...options });
  t.teardown(() => unit.close());
  return unit;
}

/** Registers a user named `User<unit name>` on each unit and lets the units find each other. */
export async function withUsers(...units: TestUnit[]): Promise<void> {
  for (const unit of units) {
    const response = await api(unit, 'POST', '/api/users/register', { name: `User${unit.name}` });
    if (response.status !== 201) throw new Error(`register failed: ${JSON.stringify(response)}`);
  }
  await connectUnits(...units);
}

/** Resolves once the unit's MQTT status satisfies `match` (it reports every change as an event). */
export function waitForMqtt(unit: TestUnit, what: string, match: (status: MqttStatus) => boolean, timeoutMs = 15_000): Promise<MqttStatus> {
  const bridge = unit.unit.mqtt;
  if (!bridge) return Promise.reject(new Error(`${unit.name} has no MQTT bridge`));
  const now = bridge.status();
  if (match(now)) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      bridge.off('status', onStatus);
      reject(new Error(`${unit.name}: MQTT never ${what}; status: ${JSON.stringify(bridge.status())}`));
    }, timeoutMs);
    const onStatus = (status: MqttStatus) => {
      if (!match(status)) return;
      clearTimeout(timer);
      bridge.off('status', onStatus);
      resolve(status);
    };
    bridge.on('status', onStatus);
  });
}
