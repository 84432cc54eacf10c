import test from 'ava';
import { fileURLToPath } from 'node:url';
import { api, startUnit } from '../support/unit-harness.js';
import { collectPageProblems, collectRequests, foreignRequests, launchChromium, screenshot, logIntoPanel } from '../support/browser.js';
import { Observer, startBroker } from './support/mosquitto.js';
import { HA_USER, startMqttUnit, UNIT_USER, waitForMqtt } from './support/mqtt-units.js';

// The panel in real headless Chromium: the unit card shows the MQTT connection as it changes
// (its status poll runs every 5 s), and the do-not-disturb toggle switches the unit, which Home
// Assistant sees; switched from Home Assistant, the panel follows.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
/** A status poll (5 s) and some slack on a loaded machine. */
const WAIT_MS = 20_000;

test('the panel shows the MQTT state as it changes, and its do-not-disturb toggle is the one Home Assistant sees', async (t) => {
  const broker = await startBroker(t, { users: [UNIT_USER, HA_USER] });
  const ha = await Observer.connect(t, broker, HA_USER, ['intercom/#']);
  const unit = await startMqttUnit(t, broker, 'Porch', { webRoot: WEB_ROOT });
  const plain = await startUnit('Hall', { webRoot: WEB_ROOT });
  t.teardown(() => plain.close());
  await waitForMqtt(unit, 'connected', (status) => status.state === 'connected');

  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = collectPageProblems(page, 'Porch');
  const requests = collectRequests(page);
  await logIntoPanel(page, unit.baseUrl, WAIT_MS);

  const mqttRow = page.locator('#unit-mqtt');
  await page.locator('#unit-mqtt[data-mqtt="connected"]').waitFor({ timeout: WAIT_MS });
  t.is(await mqttRow.textContent(), `connected to ${broker.url}`);
  t.is(await mqttRow.getAttribute('data-state'), 'ok');
  t.false(((await page.locator('#unit').textContent()) ?? '').includes(UNIT_USER.password), 'the panel never shows the password');

  // The toggle: off, then on; the unit, Home Assistant and the page agree.
  const dnd = page.getByRole('button', { name: /Do not disturb/ });
  t.is(await dnd.getAttribute('aria-pressed'), 'false');
  t.true(await page.locator('#dnd-hint').isHidden());
  await dnd.click();
  await page.locator('#dnd-button[aria-pressed="true"]').waitFor({ timeout: WAIT_MS });
  t.true(await page.locator('#dnd-hint').isVisible());
  t.is(await page.locator('#dnd-hint').textContent(), 'Do not disturb is on: calls to this unit are answered busy.');
  t.like((await api(unit, 'GET', '/api/do-not-disturb')).body, { enabled: true, changedBy: 'api' });
  await ha.waitFor('do-not-disturb on', (message) => message.topic === 'intercom/Porch/do_not_disturb/state' && message.text === 'ON');
  await screenshot(page, 'mqtt-01-connected-dnd-on');

  // Home Assistant switches it off: the panel follows at its next status poll.
  await ha.publish('intercom/Porch/do_not_disturb/set', 'OFF');
  await page.locator('#dnd-button[aria-pressed="false"]').waitFor({ timeout: WAIT_MS });
  t.true(await page.locator('#dnd-hint').isHidden());

  // The broker goes away: the panel says so, in the warning colour; it comes back: connected again.
  await broker.kill();
  await page.locator('#unit-mqtt[data-mqtt="reconnecting"]').waitFor({ timeout: WAIT_MS });
  t.regex((await mqttRow.textContent()) ?? '', new RegExp(`^not connected to ${broker.url}, retrying`));
  t.is(await mqttRow.getAttribute('data-state'), 'warn');
  await screenshot(page, 'mqtt-02-broker-away');
  await broker.restart();
  await page.locator('#unit-mqtt[data-mqtt="connected"]').waitFor({ timeout: WAIT_MS });
  t.is(await mqttRow.getAttribute('data-state'), 'ok');

  // A unit without MQTT says it is not configured.
  const other = await context.newPage();
  const otherProblems = collectPageProblems(other, 'Hall');
  await logIntoPanel(other, plain.baseUrl, WAIT_MS);
  await other.locator('#unit-mqtt[data-mqtt="off"]').waitFor({ timeout: WAIT_MS });
  t.is(await other.locator('#unit-mqtt').textContent(), 'not configured (mqtt.url)');
  await screenshot(other, 'mqtt-03-not-configured');

  t.deepEqual([...problems, ...otherProblems], []);
  t.deepEqual(foreignRequests(requests, unit.baseUrl), [], 'the panel reaches nothing but its unit');
});
