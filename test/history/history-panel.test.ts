import test from 'ava';
import { fileURLToPath } from 'node:url';
import { api, connectUnits, startUnit, waitForCall } from '../support/unit-harness.js';
import { collectPageProblems, horizontalOverflow, launchChromium, screenshot, logIntoPanel } from '../support/browser.js';

// "Recent calls" on the panel, in headless Chromium against a whole unit (B) that a second unit (A)
// calls over real HTTP: a missed call shows up marked as missed as soon as it ends, Call back rings
// the caller, the filter and Clear work, and the card fits a phone screen.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const WAIT_MS = 15_000;
const PHONE = { width: 390, height: 844 };

test('the panel lists missed and answered calls, calls back, filters and clears', async (t) => {
  const discovery = { pollIntervalMs: 1000, offlineAfterMs: 15_000, requestTimeoutMs: 10_000 };
  const a = await startUnit('A', { discovery });
  const b = await startUnit('B', { discovery, webRoot: WEB_ROOT });
  t.teardown(async () => {
    await b.close();
    await a.close();
  });
  await api(a, 'POST', '/api/users/register', { name: 'Kitchen' });
  await api(b, 'POST', '/api/users/register', { name: 'Front door' });
  await connectUnits(a, b);

  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true })).newPage();
  const problems = collectPageProblems(page, 'B');
  await logIntoPanel(page, b.baseUrl, WAIT_MS);
  await page.locator('#no-history', { hasText: 'No calls yet.' }).waitFor({ timeout: WAIT_MS });

  // A calls and gives up before B answers: a missed call on B, shown the moment it ends.
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  const missedId: string = initiated.body.call.id;
  await page.locator('#call[data-phase="ringing-in"]').waitFor({ timeout: WAIT_MS });
  await api(a, 'POST', '/api/signal/end', { callId: missedId });
  const missedRow = page.locator(`#history-list li[data-call-id="${missedId}"][data-missed="true"]`);
  await missedRow.waitFor({ timeout: WAIT_MS });
  t.regex(await missedRow.innerText(), /Kitchen[\s\S]*Missed · the caller hung up before it was answered[\s\S]*unit A · today/);
  t.is(await page.locator('#history-missed').innerText(), '1 missed');

  // Call back from the missed call: A rings, A answers, B hangs up.
  await missedRow.getByRole('button', { name: 'Call Kitchen back' }).click();
  const callBack = await waitForCall(a, (call) => call.phase === 'ringing' && call.direction === 'incoming');
  t.like(callBack, { caller: { user: 'Front door' }, callee: { user: 'Kitchen' } });
  t.true(await missedRow.getByRole('button', { name: 'Call Kitchen back' }).isDisabled(), 'no second call while one is live');
  await api(a, 'POST', '/api/signal/accept', { callId: callBack.id });
  await page.locator('#call[data-phase="active"]').waitFor({ timeout: WAIT_MS });
  await page.getByRole('button', { name: 'Hang up' }).click();
  const answeredRow = page.locator(`#history-list li[data-call-id="${callBack.id}"][data-direction="outgoing"][data-missed="false"]`);
  await answeredRow.waitFor({ timeout: WAIT_MS });
  t.regex(await answeredRow.innerText(), /Kitchen[\s\S]*Outgoing · talked \d\d:\d\d/);
  t.deepEqual(
    await page.locator('#history-list li').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.callId)),
    [callBack.id, missedId],
    'newest first',
  );
  t.is(await horizontalOverflow(page), 0, 'the history fits a phone screen');
  await screenshot(page, 'history-phone');

  // Missed only.
  await page.getByLabel('Missed only').check();
  t.deepEqual(await page.locator('#history-list li').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.callId)), [missedId]);
  await page.getByLabel('Missed only').uncheck();

  // Clear, after the person confirms.
  page.once('dialog', (dialog) => void dialog.accept());
  await page.getByRole('button', { name: 'Clear history' }).click();
  await page.locator('#no-history', { hasText: 'No calls yet.' }).waitFor({ timeout: WAIT_MS });
  t.is(await page.locator('#history-list li').count(), 0);
  t.true(await page.locator('#history-missed').isHidden());
  t.like((await api(b, 'GET', '/api/history')).body, { total: 0 });
  t.deepEqual(problems, []);
});
