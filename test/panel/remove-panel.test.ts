import test from 'ava';
import { fileURLToPath } from 'node:url';
import { startUnit, api, connectUnits, type TestUnit } from '../support/unit-harness.js';
import { eventually } from '../support/eventually.js';
import { TEST_SITE_SECRET } from '../support/test-site.js';
import { collectPageProblems, launchChromium, screenshot, logIntoPanel } from '../support/browser.js';

// Hall's panel in real Chromium: the Site box lists the site's units, each with a Remove button.
// Kitchen is off; Garage is removed (after the confirmation): Garage leaves the list, Hall has a new
// secret, and Kitchen, which could not be reached, is listed as needing to re-join.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const WAIT_MS = 20_000;

test('the Site box removes a unit after a confirmation and lists the unit that was off as needing to re-join', async (t) => {
  const units: TestUnit[] = [];
  t.teardown(async () => {
    await Promise.all(units.map((unit) => unit.close()));
  });
  const hall = await startUnit('Hall', { webRoot: WEB_ROOT });
  units.push(hall);
  const garage = await startUnit('Garage');
  units.push(garage);
  const kitchen = await startUnit('Kitchen');
  await connectUnits(hall, garage, kitchen);
  await eventually('Hall knows both', async () => hall.unit.directory.peers().length === 2);
  await kitchen.close();

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems = collectPageProblems(page, 'Hall');
  await logIntoPanel(page, hall.baseUrl, WAIT_MS);

  const garageRow = page.locator('#site-unit-list li[data-unit="Garage"]');
  await garageRow.waitFor({ timeout: WAIT_MS });
  await page.locator('#site-unit-list li[data-unit="Kitchen"]').waitFor({ timeout: WAIT_MS });

  // The first confirmation is dismissed: nothing happens.
  const dialogs: string[] = [];
  page.once('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await garageRow.getByRole('button', { name: 'Remove' }).click();
  await eventually('the confirmation was asked', async () => dialogs.length === 1);
  t.regex(dialogs[0]!, /Remove Garage from the site\?/);
  t.is(hall.unit.site.currentSecret(), TEST_SITE_SECRET, 'dismissed: nothing changed');

  page.once('dialog', (dialog) => void dialog.accept());
  await garageRow.getByRole('button', { name: 'Remove' }).click();
  await page.locator('#site-remove-result', { hasText: 'Removed Garage: the site has a new secret. Could not reach Kitchen' }).waitFor({ timeout: WAIT_MS });
  await garageRow.waitFor({ state: 'detached', timeout: WAIT_MS });
  await page.locator('#rejoin-list li[data-unit="Kitchen"]').waitFor({ timeout: WAIT_MS });
  t.true(await page.locator('#site-rejoin').isVisible());
  await screenshot(page, 'site-03-removed-Garage-Hall');

  t.not(hall.unit.site.currentSecret(), TEST_SITE_SECRET);
  t.deepEqual((await api(hall, 'GET', '/api/site')).body.needsRejoining.map((entry: { name: string }) => entry.name), ['Kitchen']);
  t.is(hall.unit.directory.peer(garage.unit.unitId), null);
  t.deepEqual(problems, []);
});
