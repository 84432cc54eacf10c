import test from 'ava';
import { fileURLToPath } from 'node:url';
import { api, connectUnits, startUnit, waitForCall } from '../support/unit-harness.js';
import { collectPageProblems, launchChromium, logIntoPanel } from '../support/browser.js';

// "Call groups" on the panel, in headless Chromium against unit A of a three-unit site over real
// HTTP: a group made in the panel reaches the other units, its Call button rings every member,
// Delete removes it everywhere.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const WAIT_MS = 15_000;

test('the panel makes a group for the site, calls it, and deletes it', async (t) => {
  const discovery = { pollIntervalMs: 1000, offlineAfterMs: 15_000, requestTimeoutMs: 10_000 };
  const a = await startUnit('A', { discovery, webRoot: WEB_ROOT });
  const b = await startUnit('B', { discovery });
  const c = await startUnit('C', { discovery });
  t.teardown(async () => {
    await Promise.all([a, b, c].map((unit) => unit.close()));
  });
  for (const [unit, name] of [[a, 'Front door'], [b, 'Concierge'], [c, 'Caretaker']] as const) await api(unit, 'POST', '/api/users/register', { name });
  await connectUnits(a, b, c);

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems = collectPageProblems(page, 'A');
  await logIntoPanel(page, a.baseUrl, WAIT_MS);
  await page.locator('#no-groups').waitFor({ timeout: WAIT_MS });

  await page.getByLabel('Group name').fill('Reception');
  await page.getByLabel('Members (users, separated by commas)').fill('Concierge, Caretaker');
  await page.getByRole('button', { name: 'Save group' }).click();
  const row = page.locator('#group-list li[data-group="Reception"]');
  await row.waitFor({ timeout: WAIT_MS });
  t.regex(await row.innerText(), /Reception[\s\S]*Concierge, Caretaker/);
  for (const unit of [b, c]) {
    while (!unit.unit.groups.get('Reception')) await new Promise((resolve) => unit.unit.groups.once('changed', resolve));
  }

  await row.getByRole('button', { name: 'Call' }).click();
  const onB = await waitForCall(b, (call) => call.phase === 'ringing' && call.group === 'Reception', WAIT_MS);
  await waitForCall(c, (call) => call.id === onB.id && call.phase === 'ringing', WAIT_MS);
  await page.locator('#call[data-phase="ringing-out"]').waitFor({ timeout: WAIT_MS });
  await api(c, 'POST', '/api/signal/accept', { callId: onB.id });
  await page.locator('#call[data-phase="active"]').waitFor({ timeout: WAIT_MS });
  t.is((await waitForCall(b, (call) => call.id === onB.id && call.phase === 'ended')).endReason, 'answered-elsewhere');
  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('#call[data-phase="idle"]').waitFor({ timeout: WAIT_MS });

  page.once('dialog', (dialog) => void dialog.accept());
  await row.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#no-groups').waitFor({ timeout: WAIT_MS });
  for (const unit of [b, c]) {
    while (unit.unit.groups.get('Reception')) await new Promise((resolve) => unit.unit.groups.once('changed', resolve));
  }
  t.deepEqual(problems, []);
});
