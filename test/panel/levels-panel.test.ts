import test from 'ava';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { api, connectUnits, startUnit, waitForCall } from '../support/unit-harness.js';
import { pressButton, releaseButton, startUnitWithGpio } from '../support/gpio-unit.js';
import { eventually } from '../support/eventually.js';
import { collectPageProblems, horizontalOverflow, launchChromium, screenshot, logIntoPanel } from '../support/browser.js';
import { micGainFactor, volumeFactor } from '../../src/audio/audio-levels.js';

// The panel's Sound box (volume and microphone gain sliders) and its mute button in real headless
// Chromium, on door unit "Door" (in this process, GPIO on fake pins, a media double that records
// the software levels) called by unit "Hall" over real HTTP.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const WAIT_MS = 15_000;

/** Waits until every element `id` has `value` in `property` (textContent, value, aria-pressed, disabled). */
async function shows(page: Page, wanted: Record<string, [property: string, value: string]>, what: string): Promise<void> {
  const check = (expected: Record<string, [string, string]>) =>
    Object.entries(expected).every(([id, [property, value]]) => {
      const element = document.getElementById(id) as (HTMLElement & { value?: string; disabled?: boolean }) | null;
      if (!element) return false;
      const actual = property === 'aria-pressed' ? element.getAttribute('aria-pressed') : String((element as unknown as Record<string, unknown>)[property]);
      return actual === value;
    });
  await page.waitForFunction(check, wanted, { timeout: WAIT_MS, polling: 50 }).catch((error: Error) => {
    throw new Error(`the panel never showed ${what}: ${error.message}`);
  });
}

test('the sliders set volume and microphone gain, follow changes made elsewhere, and the mute button mutes a call (as a long press of ANSWER does)', async (t) => {
  const door = await startUnitWithGpio('Door', { webRoot: WEB_ROOT, gpio: { callTarget: 'Hall user' } });
  const hall = await startUnit('Hall');
  t.teardown(async () => {
    await hall.close();
    await door.close();
  });
  for (const [unit, name] of [[door, 'Door user'], [hall, 'Hall user']] as const) await api(unit, 'POST', '/api/users/register', { name });
  await connectUnits(door, hall);

  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  const problems = collectPageProblems(page, 'Door');
  await logIntoPanel(page, door.baseUrl, WAIT_MS);

  // The unit's levels, from the event stream.
  await shows(page, { 'volume-value': ['textContent', '80'] }, 'volume 80');
  t.is(await page.getByLabel('Volume').inputValue(), '80');
  t.is(await page.getByLabel('Microphone gain').inputValue(), '50');
  t.regex((await page.locator('#volume-where').textContent()) ?? '', /software/);
  t.true(await page.getByRole('button', { name: 'Mute microphone' }).isDisabled(), 'nothing to mute outside a call');

  // A person drags the volume to 30: stored, applied, shown.
  await page.getByLabel('Volume').fill('30');
  await shows(page, { 'volume-value': ['textContent', '30'] }, 'volume 30');
  await t.notThrowsAsync(async () => {
    for (let tries = 0; (await api(door, 'GET', '/api/audio/levels')).body.volume !== 30; tries += 1) {
      if (tries > 100) throw new Error('the unit never got volume 30');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  t.is(door.media.playbackGain, volumeFactor(30));
  // The keyboard works too: one arrow step is one level.
  await page.getByLabel('Microphone gain').focus();
  await page.keyboard.press('ArrowRight');
  await shows(page, { 'mic-gain-value': ['textContent', '51'] }, 'gain 51');
  await eventually('the unit got gain 51', async () => (await api(door, 'GET', '/api/audio/levels')).body.micGain === 51);

  // Changed elsewhere (another panel, the API): the sliders follow live.
  await api(door, 'PUT', '/api/audio/levels', { volume: 64, micGain: 70 });
  await shows(page, { 'volume-slider': ['value', '64'], 'mic-gain-slider': ['value', '70'] }, 'the API\'s levels');
  t.is(door.media.captureGain, micGainFactor(70));

  // A call: Hall rings Door's user, Door answers from the panel's unit.
  const initiated = await api(hall, 'POST', '/api/signal/initiate', { from: 'Hall user', to: 'Door user' });
  const callId: string = initiated.body.call.id;
  await waitForCall(door, (call) => call.id === callId && call.phase === 'ringing');
  await api(door, 'POST', '/api/signal/accept', { callId });
  await waitForCall(door, (call) => call.id === callId && call.phase === 'active');
  const mute = page.locator('#mute-button');
  await shows(page, { 'mute-button': ['disabled', 'false'] }, 'the mute button enabled in the call');

  await mute.click();
  await shows(page, { 'mute-button': ['aria-pressed', 'true'] }, 'muted');
  t.true(await page.locator('#mute-hint').isVisible());
  t.like((await api(door, 'GET', '/api/audio/levels')).body, { muted: true });
  t.true(door.media.micMuted, 'the far end hears silence');
  t.like(door.gpio.status(), { led: 'muted' });
  await screenshot(page, 'levels-muted');
  t.true((await horizontalOverflow(page)) <= 0, 'the Sound box fits a phone');

  // A long press of ANSWER unmutes; the panel follows.
  await pressButton(door, door.answerButton);
  await door.clock.advance(door.config.longPressMs);
  await releaseButton(door, door.answerButton);
  await shows(page, { 'mute-button': ['aria-pressed', 'false'] }, 'unmuted by the button');
  t.false(door.media.micMuted);
  // And again: muted.
  await pressButton(door, door.answerButton);
  await door.clock.advance(door.config.longPressMs);
  await releaseButton(door, door.answerButton);
  await shows(page, { 'mute-button': ['textContent', 'Unmute microphone'] }, 'muted by the button');

  // The call ends: the mute with it.
  await api(hall, 'POST', '/api/signal/end', { callId });
  await shows(page, { 'mute-button': ['disabled', 'true'], 'mute-hint': ['hidden', 'true'] }, 'the mute lifted after the call');
  t.deepEqual(problems, []);
});
