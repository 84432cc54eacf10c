import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TeardownHost } from './unit-process.js';
import { TEST_PANEL_PASSWORD } from './people-session.js';

/**
 * Headless Chromium for the panel tests: Debian's `chromium` package driven by playwright-core
 * (no browser download; the machine may have no internet). Playwright gives every launch a
 * fresh temporary profile and removes it on close.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACT_DIR = fileURLToPath(new URL('../../test-artifacts/panel/', import.meta.url));

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // The incoming-call ring must be audible without a click first, as on a wall-mounted tablet.
  '--autoplay-policy=no-user-gesture-required',
];

/** `extraArgs`: further Chromium switches, e.g. `--host-resolver-rules=...` to give a test name an address. */
export async function launchChromium(t: TeardownHost, extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install Debian's "chromium" package (or set CHROMIUM_PATH)`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs], timeout: 60_000 });
  t.teardown(async () => {
    await browser.close();
  });
  return browser;
}

/** Opens the panel at `baseUrl`, logs in with the test password and waits for its live connection. */
export async function logIntoPanel(page: Page, baseUrl: string, timeoutMs = 20_000): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('Panel password', { exact: true }).fill(TEST_PANEL_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: timeoutMs });
}

/** Everything a page reports as going wrong (script errors, failed loads), to assert there was none. */
export function collectPageProblems(page: Page, label: string): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`${label}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // Chromium logs every 4xx answer; the API's refusals (name taken, busy) are shown by the panel, not faults.
    if (message.text().startsWith('Failed to load resource') && new URL(message.location().url, 'http://x').pathname.startsWith('/api/')) return;
    problems.push(`${label}: console: ${message.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !new URL(response.url()).pathname.startsWith('/api/')) {
      problems.push(`${label}: ${response.status()} for ${response.url()}`);
    }
  });
  page.on('requestfailed', (request) => {
    // An EventSource or poll cut off by the unit stopping at the end of a test is not a fault.
    if (!request.url().includes('/api/')) problems.push(`${label}: request failed: ${request.url()}`);
  });
  return problems;
}

/**
 * Every URL the page asks for (document, scripts, styles, fetches, the event stream), to check that
 * the panel reaches nothing but its own unit: it must work on a LAN without internet.
 */
export function collectRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (request) => urls.push(request.url()));
  return urls;
}

/** The requested URLs whose origin is not `origin` ("http://127.0.0.1:8080"). */
export function foreignRequests(urls: readonly string[], origin: string): string[] {
  return urls.filter((url) => new URL(url).origin !== origin);
}

/** Saves a full-page screenshot under test-artifacts/panel/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACT_DIR, { recursive: true });
  const file = path.join(ARTIFACT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  return file;
}

/** How far the page is wider than its viewport, in CSS pixels (0 when nothing overflows sideways). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth);
}
