import test from 'ava';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import wavefile from 'wavefile';
import { api, connectUnits, startUnit } from '../support/unit-harness.js';
import { collectPageProblems, launchChromium, logIntoPanel } from '../support/browser.js';

// "Paging" on the panel, in headless Chromium against unit A of a three-unit site: a WAV chosen in
// the panel is paged to a group, the card says how each member unit took it (B plays it, C has
// do-not-disturb on), and shows the page while it runs.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const WAIT_MS = 15_000;

test('the panel pages a group with a WAV and shows how each unit took it', async (t) => {
  const a = await startUnit('A', { webRoot: WEB_ROOT });
  const [b, c] = await Promise.all([startUnit('B'), startUnit('C')]);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-page-panel-'));
  t.teardown(async () => {
    await Promise.all([a, b, c].map((unit) => unit.close()));
    await rm(dir, { recursive: true, force: true });
  });
  for (const unit of [a, b, c]) await api(unit, 'POST', '/api/users/register', { name: `User${unit.name}` });
  await connectUnits(a, b, c);
  await api(a, 'PUT', '/api/groups/All%20flats', { members: ['UserB', 'UserC'] });
  await api(c, 'PUT', '/api/do-not-disturb', { enabled: true });
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, 48_000, '16', new Int16Array(48_000 * 3));
  const file = path.join(dir, 'water-off.wav');
  await writeFile(file, wav.toBuffer());

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems = collectPageProblems(page, 'A');
  await logIntoPanel(page, a.baseUrl, WAIT_MS);
  await page.locator('#page-group option[value="All flats"]').waitFor({ state: 'attached', timeout: WAIT_MS });

  await page.getByLabel('Priority').selectOption('announcement');
  await page.getByLabel('Announcement (WAV, up to 30 s)').setInputFiles(file);
  await page.getByRole('button', { name: 'Page', exact: true }).click();
  await page.locator('#page-result').filter({ hasText: 'Paging "All flats" (announcement): 1 of 2 units play it.' }).waitFor({ timeout: WAIT_MS });
  t.regex(await page.locator('#page-members li[data-unit="B"]').innerText(), /plays it/);
  t.regex(await page.locator('#page-members li[data-unit="C"]').innerText(), /do-not-disturb/);
  await page.locator('#page-now').filter({ hasText: 'Sending an announcement to "All flats".' }).waitFor({ timeout: WAIT_MS });
  t.not(b.unit.paging.status().incoming, null, 'B plays it');

  await page.getByRole('button', { name: 'End page' }).click();
  await page.locator('#page-result').filter({ hasText: 'Page ended.' }).waitFor({ timeout: WAIT_MS });
  t.is(a.unit.paging.status().outgoing, null);
  t.deepEqual(problems, []);
});
