import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUnit, api, waitForCall, type TestUnit } from '../support/unit-harness.js';
import { generateSiteSecret, siteSecretPath, storeSiteSecret } from '../../src/security/site-secret.js';
import { collectPageProblems, launchChromium, screenshot, logIntoPanel } from '../support/browser.js';

// Two fresh units (each with a secret of its own, as after the first boot) pair through their
// panels in real Chromium: Hall's panel lists Kitchen as a unit it does not trust, gives a code,
// Kitchen's panel takes it; then both list each other's users and they call each other.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const WAIT_MS = 20_000;

async function freshUnit(t: { teardown(fn: () => Promise<void>): void }, name: string): Promise<TestUnit> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `intercom-panel-join-${name}-`));
  const secret = generateSiteSecret();
  const unit = await startUnit(name, { dataDir, webRoot: WEB_ROOT, siteSecret: { secret, source: 'generated', file: await storeSiteSecret(dataDir, secret) } });
  t.teardown(async () => {
    await unit.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await api(unit, 'POST', '/api/users/register', { name });
  return unit;
}

test('two fresh units pair through their panels with a code, then call each other', async (t) => {
  const hall = await freshUnit(t, 'Hall');
  const kitchen = await freshUnit(t, 'Kitchen');
  // Hall finds Kitchen on the LAN (as DNS-SD would); Kitchen does not trust it yet.
  hall.unit.directory.addCandidate({ host: '127.0.0.1', port: kitchen.port, source: 'dns-sd' });

  const browser = await launchChromium(t);
  const hallPage = await browser.newPage();
  const kitchenPage = await browser.newPage();
  const problems = [...collectPageProblems(hallPage, 'Hall'), ...collectPageProblems(kitchenPage, 'Kitchen')];
  await logIntoPanel(hallPage, hall.baseUrl, WAIT_MS);
  await logIntoPanel(kitchenPage, kitchen.baseUrl, WAIT_MS);

  await hallPage.locator('#untrusted-list li', { hasText: `127.0.0.1:${kitchen.port}` }).filter({ hasText: 'not yet in a site' }).waitFor({ timeout: WAIT_MS });
  await hallPage.getByRole('button', { name: 'Get a join code' }).click();
  const digits = hallPage.locator('#site-code-digits');
  await digits.filter({ hasText: /^[0-9]{6}$/ }).waitFor({ timeout: WAIT_MS });
  const code = (await digits.textContent())!;
  await screenshot(hallPage, 'site-01-join-code-Hall');

  await kitchenPage.getByLabel("Join another unit's site: its code").fill(code);
  await kitchenPage.getByLabel('Its address (if it is not listed below)').fill(`127.0.0.1:${hall.port}`);
  await kitchenPage.getByRole('button', { name: 'Join', exact: true }).click();
  await kitchenPage.locator('#site-join-result', { hasText: 'Joined the site of Hall' }).waitFor({ timeout: WAIT_MS });
  await screenshot(kitchenPage, 'site-02-joined-Kitchen');
  t.is((await readFile(siteSecretPath(kitchen.dataDir), 'utf8')).trim(), (await readFile(siteSecretPath(hall.dataDir), 'utf8')).trim());

  // Each panel lists the other unit's user online, and Hall no longer lists Kitchen as untrusted.
  await kitchenPage.locator('#user-list li[data-user="Hall"][data-online="true"]').waitFor({ timeout: WAIT_MS });
  await hallPage.locator('#user-list li[data-user="Kitchen"][data-online="true"]').waitFor({ timeout: WAIT_MS });
  await hallPage.locator('#no-untrusted').waitFor({ state: 'visible', timeout: WAIT_MS });
  await hallPage.locator('#site-summary', { hasText: 'in a site with 1 other unit' }).waitFor({ timeout: WAIT_MS });

  const call = await api(kitchen, 'POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Hall' });
  t.is(call.status, 200, JSON.stringify(call.body));
  await waitForCall(hall, (snapshot) => snapshot.id === call.body.call.id && snapshot.phase === 'ringing');
  t.is((await api(hall, 'POST', '/api/signal/accept', { callId: call.body.call.id })).status, 200);
  await waitForCall(kitchen, (snapshot) => snapshot.id === call.body.call.id && snapshot.phase === 'active');
  await api(kitchen, 'POST', '/api/signal/end', { callId: call.body.call.id });
  t.deepEqual(problems, []);
});
