import test from 'ava';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchSite } from '../support/unit-process.js';
import { storePanelPassword } from '../../src/security/people-password.js';
import { TEST_PANEL_PASSWORD } from '../support/people-session.js';
import { api, connectUnits, startUnit } from '../support/unit-harness.js';
import { pressButton, releaseButton, startUnitWithGpio } from '../support/gpio-unit.js';
import { collectPageProblems, collectRequests, foreignRequests, horizontalOverflow, launchChromium, screenshot } from '../support/browser.js';

// The web panel in real headless Chromium against two real unit processes (A and B, static
// peers of each other, no sound cards: the media engine sends silence on its frame clock).
// Every panel logs in through its own login form first.
// Screenshots of every step land in test-artifacts/panel/; with UPDATE_DOCS_SCREENSHOTS=1 the
// active-call one is also copied to docs/screenshots/panel-call.png for the README.

const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/screenshots/panel-call.png', import.meta.url));
const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
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

/** A unit the panel can be opened on: a real process or one in this process. */
interface PanelUnit {
  name: string;
  baseUrl: string;
  password: string | null;
}

async function openPanel(page: Page, unit: PanelUnit): Promise<void> {
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

// ---- what the unit card should show for a status (the panel's wording, as a person reads it) ----

interface SystemFigures {
  cpuLoadPercent: number | null;
  loadAverage: number[];
  temperatureC: number | null;
}

function cpuText(system: SystemFigures): string {
  const percent = system.cpuLoadPercent === null ? '–' : `${system.cpuLoadPercent.toFixed(0)} %`;
  return system.loadAverage.length ? `${percent} (load ${system.loadAverage.map((value) => value.toFixed(2)).join(' ')})` : percent;
}

function temperatureText(system: SystemFigures): string {
  return system.temperatureC === null ? 'not reported by this machine' : `${system.temperatureC.toFixed(1)} °C`;
}

type GpioFigures =
  | { available: false; enabled: boolean; reason: string }
  | { available: true; board: string; led: string; buttons: Record<string, boolean>; doorRelay: { energised: boolean } | null };

/** What the GPIO row must say, given the unit's GPIO state: the facts, not the panel's wording. */
function gpioFacts(gpio: GpioFigures): string[] {
  if (!gpio.available) return [gpio.reason];
  const pressed = Object.entries(gpio.buttons).filter(([, down]) => down).map(([name]) => name.toUpperCase());
  return [gpio.board, `LED ${gpio.led}`, ...(pressed.length > 0 ? pressed : ['buttons up'])];
}

async function gpioRowShows(page: Page, gpio: GpioFigures): Promise<boolean> {
  const facts = gpioFacts(gpio);
  await page.locator('#unit-gpio', { hasText: facts[0] }).waitFor({ timeout: WAIT_MS });
  const text = (await page.locator('#unit-gpio').textContent()) ?? '';
  return facts.every((fact) => text.includes(fact));
}

/** The next /api/status answer the page receives (its own poll), as JSON. */
async function nextStatusOf(page: Page): Promise<any> {
  const response = await page.waitForResponse((candidate) => new URL(candidate.url()).pathname === '/api/status' && candidate.status() === 200, {
    timeout: WAIT_MS,
  });
  return response.json();
}

/** What `selector` shows once it shows `text` (or after a short wait, whatever it shows then). */
async function shownText(page: Page, selector: string, text: string): Promise<string> {
  await page
    .waitForFunction(([where, wanted]) => document.querySelector(where)?.textContent === wanted, [selector, text] as const, { timeout: 3000 })
    .catch(() => undefined);
  return (await page.locator(selector).textContent()) ?? '';
}

/** "340 ms" or "12.4 s" (the panel's running totals) in ms, with how far rounding may have moved it. */
function parseTotalMs(text: string): { ms: number; rounding: number } {
  const match = /^(\d+) ms$|^(\d+\.\d) s$/.exec(text);
  if (!match) throw new Error(`not a running total: "${text}"`);
  return match[1] !== undefined ? { ms: Number(match[1]), rounding: 0.5 } : { ms: Number(match[2]) * 1000, rounding: 50 };
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
    return { page: opened, problems: collectPageProblems(opened, label), requests: collectRequests(opened) };
  };
  const { page: pageA, problems: problemsA, requests: requestsA } = await page('A', DESKTOP);
  const { page: pageB, problems: problemsB, requests: requestsB } = await page('B', DESKTOP);
  const { page: phoneB, problems: problemsPhone, requests: requestsPhone } = await page('B (phone)', PHONE, true);

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
  // The unit card shows what the unit's /api/status told the panel (its next poll, whose figures
  // are sampled every few seconds): buttons and LED (this machine has no GPIO), CPU load, temperature.
  const statusA = await nextStatusOf(pageA);
  t.truthy(statusA.gpio, 'the unit reports its GPIO');
  t.true(await pageA.locator('#unit-gpio-row').isVisible());
  t.true(await gpioRowShows(pageA, statusA.gpio), `the GPIO row says ${gpioFacts(statusA.gpio).join(', ')}`);
  t.is(await pageA.locator('#unit-gpio').getAttribute('data-state'), statusA.gpio.available ? 'ok' : 'warn');
  t.deepEqual(statusA.gpio, (await a.api('GET', '/api/status')).body.gpio, 'the same GPIO state as the API gives anyone');
  const cpu = await shownText(pageA, '#unit-cpu', cpuText(statusA.system));
  t.is(cpu, cpuText(statusA.system));
  t.regex(cpu, /^\d+ % \(load \d+\.\d\d \d+\.\d\d \d+\.\d\d\)$/, 'Linux reports load averages');
  t.is(await shownText(pageA, '#unit-temperature', temperatureText(statusA.system)), temperatureText(statusA.system));
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
    t.regex((await panel.locator('#stat-concealed').textContent()) ?? '', /^(\d+ ms|\d+\.\d s)$/);
    t.regex((await panel.locator('#call-duration').textContent()) ?? '', /^Talking for \d\d:\d\d$/);
  }
  // The figures shown are the unit's own: read the panel first, then ask the unit; the panel is never ahead.
  const shownLoss = (await pageA.locator('#stat-loss').textContent()) ?? '';
  const shownConcealed = parseTotalMs((await pageA.locator('#stat-concealed').textContent()) ?? '');
  const callOnA = (await a.api('GET', '/api/calls')).body.current;
  t.like(callOnA, { phase: 'active', caller: { user: 'Kitchen', unitName: 'A' }, callee: { user: 'Front door', unitName: 'B' } });
  t.true(callOnA.stats.packetsReceived > 0, 'audio (silence) flows between the units');
  const shownExpected = Number(/of (\d+)\)/.exec(shownLoss)?.[1]);
  t.true(shownExpected > 0 && shownExpected <= callOnA.stats.packetsReceived + callOnA.stats.packetsLost);
  t.true(
    shownConcealed.ms - shownConcealed.rounding <= callOnA.stats.concealedMs,
    `concealed shown ${shownConcealed.ms} ms, the unit counts ${callOnA.stats.concealedMs} ms`,
  );
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
  // Everything the panels loaded came from their own unit: no CDN, no web fonts, nothing outside the LAN.
  for (const [requests, unit] of [
    [requestsA, a],
    [requestsB, b],
    [requestsPhone, b],
  ] as const) {
    const paths = new Set(requests.map((url) => new URL(url).pathname));
    for (const expected of ['/', '/panel.css', '/js/main.js', '/api/session', '/api/events', '/api/status']) t.true(paths.has(expected), `requested ${expected}`);
    t.deepEqual(foreignRequests(requests, unit.baseUrl), [], `every request of the panel on ${unit.name} went to ${unit.baseUrl}`);
  }
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

test.serial('the GPIO row follows the buttons and the ring LED as they change, from the event stream alone', async (t) => {
  // An in-process unit wired like main.ts, whose GPIO is a real GpioService on fake pins, serving the panel.
  const door = await startUnitWithGpio('Door', { webRoot: WEB_ROOT });
  const caller = await startUnit('Hall');
  t.teardown(async () => {
    await caller.close();
    await door.close();
  });
  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  const problems = collectPageProblems(page, 'Door');
  const requests = collectRequests(page);
  await openPanel(page, { name: 'Door', baseUrl: door.baseUrl, password: TEST_PANEL_PASSWORD });
  const row = page.locator('#unit-gpio');
  const shows = (text: string) => page.locator('#unit-gpio', { hasText: text }).waitFor({ timeout: WAIT_MS });
  const statusGpio = async () => (await api(door, 'GET', '/api/status')).body.gpio;
  await page.locator('#unit-gpio-row').waitFor({ timeout: WAIT_MS });
  t.is(await row.textContent(), 'Raspberry Pi 4/400/CM4 · LED off · buttons up');
  t.true(await gpioRowShows(page, await statusGpio()));
  t.is(await row.getAttribute('data-state'), 'ok');

  // From here on the status poll gets no answer: only the event stream can move the row.
  await page.route('**/api/status', (route) => route.abort());
  await pressButton(door, door.answerButton);
  await shows('pressed: ANSWER');
  t.true(await gpioRowShows(page, await statusGpio()));
  await releaseButton(door, door.answerButton);
  await shows('buttons up');

  // A call ringing in makes the ring LED blink; the row says so while the banner rings.
  await api(door, 'POST', '/api/users/register', { name: 'Front door' });
  await api(caller, 'POST', '/api/users/register', { name: 'Visitor' });
  await connectUnits(caller, door);
  const ringing = await api(caller, 'POST', '/api/signal/initiate', { from: 'Visitor', to: 'Front door' });
  t.is(ringing.status, 200);
  await callCard(page, 'ringing-in').waitFor({ timeout: WAIT_MS });
  await shows('LED blinking');
  t.true(await gpioRowShows(page, await statusGpio()));
  await screenshot(page, '07-gpio-live-ringing');
  await api(caller, 'POST', '/api/signal/end', { callId: ringing.body.call.id });
  await callCard(page, 'idle').waitFor({ timeout: WAIT_MS });
  await shows('LED off');

  t.deepEqual(problems, []);
  t.deepEqual(foreignRequests(requests, door.baseUrl), []);
});
