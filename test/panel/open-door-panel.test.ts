import test from 'ava';
import { fileURLToPath } from 'node:url';
import { api, connectUnits, startUnit } from '../support/unit-harness.js';
import { startUnitWithGpio } from '../support/gpio-unit.js';
import { collectPageProblems, collectRequests, foreignRequests, launchChromium, screenshot, logIntoPanel } from '../support/browser.js';
import type { GpioStatus } from '../../src/gpio/gpio-status.js';

// The flat's panel in real Chromium: the person answers the door station's call, and the call card's
// "Open door at Door" button opens the door station's relay (not anything of the flat's).

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const WAIT_MS = 15_000;
const RELAY_SYSFS = 512 + 26;

test("the flat's panel opens the door station's door during the call, and only then", async (t) => {
  // Patient unit-to-unit requests: a loaded machine must not turn a slow answer into "unreachable".
  const discovery = { requestTimeoutMs: 5000, offlineAfterMs: 30_000 };
  const door = await startUnitWithGpio('Door', { gpio: { doorRelay: 26 }, discovery });
  const flat = await startUnit('Flat', { webRoot: WEB_ROOT, discovery });
  t.teardown(async () => {
    await Promise.all([door.close(), flat.close()]);
  });
  await api(door, 'POST', '/api/users/register', { name: 'Front door' });
  await api(flat, 'POST', '/api/users/register', { name: 'Flat 1' });
  await connectUnits(door, flat);

  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const problems = collectPageProblems(page, 'Flat');
  const requests = collectRequests(page);
  await logIntoPanel(page, flat.baseUrl, WAIT_MS);
  const openButton = page.getByRole('button', { name: 'Open door at Door' });
  t.false(await page.locator('#peer-door-button').isVisible(), 'no door to open while idle');
  await page.locator('#unit-auto-answer', { hasText: 'off' }).waitFor({ timeout: WAIT_MS });

  await api(door, 'POST', '/api/signal/initiate', { from: 'Front door', to: 'Flat 1' });
  await page.locator('#call[data-phase="ringing-in"]').waitFor({ timeout: WAIT_MS });
  t.false(await page.locator('#peer-door-button').isVisible(), 'nor while the call rings');
  await page.getByRole('button', { name: 'Answer' }).click();
  await page.locator('#call[data-phase="active"]').waitFor({ timeout: WAIT_MS });
  t.false(await page.locator('#door-button').isVisible(), 'the flat has no relay of its own to offer');

  const relayOpened = new Promise<void>((resolve) => {
    const onStatus = (status: GpioStatus) => {
      if ('doorRelay' in status && status.doorRelay?.energised) {
        door.gpio.off('status', onStatus);
        resolve();
      }
    };
    door.gpio.on('status', onStatus);
  });
  await openButton.click();
  await relayOpened;
  t.is(door.ports.output(RELAY_SYSFS).level, 1, "the door station's relay is on");
  await page.locator('#toast', { hasText: 'Door at Door opened for 1.0 s' }).waitFor({ timeout: WAIT_MS });
  await screenshot(page, 'open-door-at-the-door-station');

  // Pressed again while the relay is still on: the panel says so, the pulse is not lengthened.
  await openButton.click();
  await page.locator('#toast', { hasText: 'already on' }).waitFor({ timeout: WAIT_MS });
  t.is(door.ports.output(RELAY_SYSFS).writes.length, 1, 'one pulse');

  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('#call[data-phase="idle"]').waitFor({ timeout: WAIT_MS });
  t.false(await page.locator('#peer-door-button').isVisible(), 'gone with the call');
  t.deepEqual(problems, []);
  t.deepEqual(foreignRequests(requests, flat.baseUrl), []);
});
