import test from 'ava';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchSite, type UnitProcess } from '../support/unit-process.js';
import { storePanelPassword } from '../../src/security/people-password.js';
import { collectPageProblems, horizontalOverflow, launchChromium, screenshot } from './browser.js';

// The web panel in real headless Chromium against two real unit processes (A and B, static
// peers of each other, no sound cards: the media engine sends silence on its frame clock).
// Every panel logs in through its own login form first.
// Screenshots of every step land in test-artifacts/panel/; with UPDATE_DOCS_SCREENSHOTS=1 the
// active-call one is also copied to docs/screenshots/panel-call.png for the README.

const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/screenshots/panel-call.png', import.meta.url));
const WAIT_MS = 15_000;
/** Long enough for 20 one-second stats events when the README screenshot is refreshed. */
const CHART_HISTORY_WAIT_MS = 40_000;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

/** Types the password into the login form, as a person would. */
async function logIn(page: Page, password: string): Promise<void> {
  await page.getByLabel('Panel password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function openPanel(page: Page, unit: UnitProcess): Promise<void> {
  await page.goto(`${unit.baseUrl}/`);
  await page.locator('#login').waitFor({ timeout: WAIT_MS });
  // Nothing of the panel shows before the login.
  if (await page.locator('#panel').isVisible()) throw new Error('the panel shows before the login');
  await logIn(page, unit.password!);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: WAIT_MS });
  await page.locator('#unit-title', { hasText: unit.name }).waitFor({ timeout: WAIT_MS });
}

async function registerUser(page: Page, name: string): Promise<void> {
  await page.getByLabel('Name (a room or a person)').fill(name);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#register-result', { hasText: `${name} is now a user of this unit.` }).waitFor({ timeout: WAIT_MS });
}

function userRow(page: Page, name: string, online = true) {
  return page.locator(`#user-list li[data-user="${name}"][data-online="${online}"]`);
}

function callCard(page: Page, phase: 'idle' | 'ringing-in' | 'ringing-out' | 'active') {
  return page.locator(`#call[data-phase="${phase}"]`);
}

/** Waits until the live chart has drawn at least `count` stats samples. */
async function chartSamples(page: Page, count: number, timeout = WAIT_MS): Promise<number> {
  const handle = await page.waitForFunction(
    (least) => {
      const samples = Number(document.getElementById('stats-chart')?.dataset.samples ?? 0);
      return samples >= least ? samples : false;
    },
    count,
    { timeout },
  );
  return (await handle.jsonValue()) as number;
}

test.serial('two panels: register a user on each, dial from A, answer on B, talk, hang up; also on a phone screen', async (t) => {
  const [a, b] = await launchSite(t, [{ name: 'A' }, { name: 'B' }]);
  const browser = await launchChromium(t);
  const page = async (label: string, viewport: { width: number; height: number }, phone = false) => {
    const context = await browser.newContext({ viewport, isMobile: phone, hasTouch: phone, deviceScaleFactor: phone ? 2 : 1 });
    const opened = await context.newPage();
    return { page: opened, problems: collectPageProblems(opened, label) };
  };
  const { page: pageA, problems: problemsA } = await page('A', DESKTOP);
  const { page: pageB, problems: problemsB } = await page('B', DESKTOP);
  const { page: phoneB, problems: problemsPhone } = await page('B (phone)', PHONE, true);

  // A wrong password first: the form says so, in an alert, and keeps the panel closed.
  await pageA.goto(`${a.baseUrl}/`);
  await logIn(pageA, 'not the password');
  await pageA.locator('#login-result', { hasText: 'Wrong password.' }).waitFor({ timeout: WAIT_MS });
  t.is(await pageA.locator('#login-result').getAttribute('role'), 'alert');
  t.false(await pageA.locator('#panel').isVisible());
  t.is(await pageA.locator('#login-password').evaluate((input) => input === document.activeElement), true, 'the focus is back in the password field');
  await screenshot(pageA, '00-login-wrong-password-A');

  await Promise.all([openPanel(pageA, a), openPanel(pageB, b), openPanel(phoneB, b)]);
  t.is(await pageA.locator('#unit-address').textContent(), a.address, 'the unit card shows where the panel reached it');

  // 1. A user on each unit; each panel lists the other unit's user (online) once the units have polled each other.
  await registerUser(pageA, 'Kitchen');
  await registerUser(pageB, 'Front door');
  await userRow(pageA, 'Front door').waitFor({ timeout: WAIT_MS });
  await userRow(pageB, 'Kitchen').waitFor({ timeout: WAIT_MS });
  await userRow(phoneB, 'Kitchen').waitFor({ timeout: WAIT_MS });
  await pageA.locator('#peer-list li[data-peer="B"][data-online="true"]').waitFor({ timeout: WAIT_MS });
  t.is(await pageA.locator('#from-select').inputValue(), 'Kitchen', 'calls from A are made as its only user');
  t.is(await userRow(pageA, 'Kitchen').getByRole('button').count(), 0, "a unit's own users have no Call button");
  await pageA.locator('#unit-cpu', { hasText: '%' }).waitFor({ timeout: WAIT_MS });
  t.regex((await pageA.locator('#unit-uptime').textContent()) ?? '', /^\d\d:\d\d$/);
  t.regex((await pageA.locator('#unit-audio').textContent()) ?? '', /^no sound device: calls carry silence/);
  await screenshot(pageA, '01-registered-A');
  await screenshot(pageB, '01-registered-B');
  await screenshot(phoneB, '01-registered-B-phone');
  t.is(await horizontalOverflow(phoneB), 0, 'the idle panel fits a phone screen');

  // 2. Dial from A: A shows the outgoing call, B rings with a banner (and the ring sound plays).
  await pageA.getByRole('button', { name: 'Call Front door at unit B' }).click();
  await callCard(pageA, 'ringing-out').waitFor({ timeout: WAIT_MS });
  await callCard(pageB, 'ringing-in').waitFor({ timeout: WAIT_MS });
  await callCard(phoneB, 'ringing-in').waitFor({ timeout: WAIT_MS });
  t.is(await pageB.locator('#call-headline').textContent(), 'Incoming call for Front door');
  t.is(await pageB.locator('#call-detail').textContent(), 'Kitchen at unit A is calling.');
  t.is(await pageB.locator('#call-banner').getAttribute('aria-live'), 'assertive', 'screen readers announce the ringing call at once');
  await pageB.locator('#call-banner[data-ring="sounding"]').waitFor({ timeout: WAIT_MS });
  t.true(await pageB.getByRole('button', { name: 'Answer' }).isVisible());
  t.true(await pageB.getByRole('button', { name: 'Reject' }).isVisible());
  t.true(await pageA.getByRole('button', { name: 'Cancel call' }).isVisible());
  t.true(await pageA.getByRole('button', { name: 'Call Front door at unit B' }).isDisabled(), 'no second call while one is live');
  const ringing = (await b.api('GET', '/api/signal/incoming?user=Front%20door')).body.calls;
  t.is(ringing.length, 1, 'the unit itself reports the call the panel shows');
  await screenshot(pageA, '02-ringing-A');
  await screenshot(pageB, '02-ringing-B');
  await screenshot(phoneB, '02-ringing-B-phone');
  t.is(await horizontalOverflow(phoneB), 0, 'the ringing banner fits a phone screen');

  // 3. Answer on B (from the keyboard: the Answer button has the focus once it rings): both panels show the active call with live statistics.
  t.true(await pageB.getByRole('button', { name: 'Answer' }).evaluate((button) => button === document.activeElement), 'Answer has the keyboard focus');
  await pageB.keyboard.press('Enter');
  await Promise.all([callCard(pageA, 'active').waitFor({ timeout: WAIT_MS }), callCard(pageB, 'active').waitFor({ timeout: WAIT_MS })]);
  await callCard(phoneB, 'active').waitFor({ timeout: WAIT_MS });
  t.is(await pageA.locator('#call-headline').textContent(), 'In a call with Front door');
  t.is(await pageB.locator('#call-headline').textContent(), 'In a call with Kitchen');
  t.is(await pageB.locator('#call-banner').getAttribute('data-ring'), 'silent', 'the ring stops once answered');
  for (const panel of [pageA, pageB]) {
    t.true(await panel.locator('#call-stats').isVisible());
    t.true((await chartSamples(panel, 3)) >= 3, 'the chart draws the stats events as they come');
    t.regex((await panel.locator('#stat-delay').textContent()) ?? '', /^\d+(\.\d)? ms \(target \d+(\.\d)? ms\)$/);
    t.regex((await panel.locator('#stat-jitter').textContent()) ?? '', /^\d+(\.\d)? ms$/);
    t.regex((await panel.locator('#stat-loss').textContent()) ?? '', /^\d+\.\d % \(\d+ of \d+\)$/);
    t.regex((await panel.locator('#call-duration').textContent()) ?? '', /^Talking for \d\d:\d\d$/);
  }
  const callOnA = (await a.api('GET', '/api/calls')).body.current;
  t.like(callOnA, { phase: 'active', caller: { user: 'Kitchen', unitName: 'A' }, callee: { user: 'Front door', unitName: 'B' } });
  t.true(callOnA.stats.packetsReceived > 0, 'audio (silence) flows between the units');
  // The figures shown are the unit's own: the packet count on the panel is never ahead of the API's.
  const shownLoss = (await pageA.locator('#stat-loss').textContent()) ?? '';
  const shownExpected = Number(/of (\d+)\)/.exec(shownLoss)?.[1]);
  t.true(shownExpected > 0 && shownExpected <= callOnA.stats.packetsReceived + callOnA.stats.packetsLost);
  // The README's picture shows a chart with some history in it.
  if (process.env.UPDATE_DOCS_SCREENSHOTS === '1') await chartSamples(pageA, 20, CHART_HISTORY_WAIT_MS);
  const shotA = await screenshot(pageA, '03-active-A');
  await screenshot(pageB, '03-active-B');
  await screenshot(phoneB, '03-active-B-phone');
  t.is(await horizontalOverflow(phoneB), 0, 'the call statistics and chart fit a phone screen');
  if (process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
    await mkdir(path.dirname(DOCS_SCREENSHOT), { recursive: true });
    await copyFile(shotA, DOCS_SCREENSHOT);
  }

  // 4. Hang up on A: both panels go idle and say how the call ended.
  await pageA.getByRole('button', { name: 'Hang up' }).click();
  await Promise.all([callCard(pageA, 'idle').waitFor({ timeout: WAIT_MS }), callCard(pageB, 'idle').waitFor({ timeout: WAIT_MS })]);
  await callCard(phoneB, 'idle').waitFor({ timeout: WAIT_MS });
  t.regex((await pageA.locator('#call-detail').textContent()) ?? '', /^Last call, with Front door \(unit B\): hung up after \d\d:\d\d\.$/);
  t.regex((await pageB.locator('#call-detail').textContent()) ?? '', /^Last call, with Kitchen \(unit A\): hung up after \d\d:\d\d\.$/);
  t.false(await pageB.locator('#call-stats').isVisible());
  t.true(await pageA.getByRole('button', { name: 'Call Front door at unit B' }).isEnabled(), 'calling is possible again');
  t.is((await a.api('GET', '/api/calls')).body.current, null);
  t.is((await b.api('GET', '/api/calls')).body.current, null);
  await screenshot(pageA, '04-idle-A');
  await screenshot(pageB, '04-idle-B');

  // 5. Log out on the phone: it shows the login again; the other panel of B stays logged in.
  await phoneB.getByRole('button', { name: 'Log out' }).click();
  await phoneB.locator('#login').waitFor({ timeout: WAIT_MS });
  t.false(await phoneB.locator('#panel').isVisible());
  t.is(await phoneB.evaluate(async () => (await fetch('/api/status')).status), 401, 'the phone\'s session has ended');
  t.is(await pageB.evaluate(async () => (await fetch('/api/status')).status), 200);
  await screenshot(phoneB, '05-logged-out-B-phone');

  t.deepEqual([...problemsA, ...problemsB, ...problemsPhone], [], 'no script errors or failed loads in any panel');
});

test.serial('rejecting from the banner ends the call on both panels; a name taken on another unit is refused with the reason', async (t) => {
  const [a, b] = await launchSite(t, [{ name: 'A' }, { name: 'B' }]);
  const browser = await launchChromium(t);
  const pageA = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  const pageB = await (await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true })).newPage();
  const problems = [collectPageProblems(pageA, 'A'), collectPageProblems(pageB, 'B')];
  await Promise.all([openPanel(pageA, a), openPanel(pageB, b)]);
  await registerUser(pageA, 'Hall');
  await registerUser(pageB, 'Garage');
  await userRow(pageB, 'Hall').waitFor({ timeout: WAIT_MS });

  // Names are unique across the site: B refuses "hall" and the form says why, in the API's words.
  await pageB.getByLabel('Name (a room or a person)').fill('hall');
  await pageB.getByRole('button', { name: 'Register' }).click();
  const refusal = pageB.locator('#register-result[data-state="error"]');
  await refusal.waitFor({ timeout: WAIT_MS });
  const conflict = await b.api('POST', '/api/users/register', { name: 'hall' });
  t.is(conflict.status, 409);
  t.is(await refusal.textContent(), conflict.body.message);
  t.deepEqual((await b.api('GET', '/api/users')).body.users.filter((user: { local: boolean }) => user.local).map((user: { name: string }) => user.name), ['Garage']);

  // A turns its ring sound off; B calls A; A's banner shows without sound, and A rejects from it.
  const sound = pageA.getByRole('button', { name: 'Ring sound' });
  await sound.click();
  t.is(await sound.getAttribute('aria-pressed'), 'false');
  await userRow(pageB, 'Hall').getByRole('button', { name: 'Call Hall at unit A' }).tap();
  await callCard(pageA, 'ringing-in').waitFor({ timeout: WAIT_MS });
  t.is(await pageA.locator('#call-banner').getAttribute('data-ring'), 'muted');
  await pageA.getByRole('button', { name: 'Reject' }).click();
  await Promise.all([callCard(pageA, 'idle').waitFor({ timeout: WAIT_MS }), callCard(pageB, 'idle').waitFor({ timeout: WAIT_MS })]);
  t.is(await pageA.locator('#call-detail').textContent(), 'Last call, with Garage (unit B): rejected.');
  t.is(await pageB.locator('#call-detail').textContent(), 'Last call, with Hall (unit A): rejected.');
  t.is(await pageA.locator('#call-banner').getAttribute('data-ring'), 'silent');
  const calls = (await b.api('GET', '/api/calls')).body;
  t.is(calls.current, null);
  t.like(calls.calls[0], { phase: 'ended', endReason: 'rejected' });
  await screenshot(pageA, '05-rejected-A');
  await screenshot(pageB, '05-rejected-B-phone');
  t.is(await horizontalOverflow(pageB), 0);
  t.deepEqual(problems.flat(), []);
});

test.serial('a unit without a password shows how to set one; once set with `intercom password`, the panel logs in', async (t) => {
  const [unit] = await launchSite(t, [{ name: 'Fresh', password: null }]);
  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true })).newPage();
  const problems = collectPageProblems(page, 'Fresh');
  await page.goto(`${unit.baseUrl}/`);
  const screen = page.getByRole('region', { name: 'Set a panel password first' });
  await screen.waitFor({ timeout: WAIT_MS });
  t.regex((await screen.textContent()) ?? '', /sudo intercom password/);
  t.regex((await screen.textContent()) ?? '', /panel_password=/);
  t.false(await page.locator('#login').isVisible(), 'no login form: there is no password to log in with');
  t.false(await page.locator('#panel').isVisible());
  await screenshot(page, '06-no-password-phone');
  t.is(await horizontalOverflow(page), 0);

  // The same code `intercom password` runs; the running unit needs no restart.
  await storePanelPassword(unit.dataDir, 'a fresh password');
  await page.getByRole('button', { name: 'Check again' }).click();
  await logIn(page, 'a fresh password');
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: WAIT_MS });
  await page.locator('#unit-title', { hasText: 'Fresh' }).waitFor({ timeout: WAIT_MS });
  t.deepEqual(problems, []);
});
