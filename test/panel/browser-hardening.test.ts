import test from 'ava';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { launchUnit, TEST_PANEL_PASSWORD, type UnitProcess } from '../support/unit-process.js';
import { collectPageProblems, launchChromium } from '../support/browser.js';

// The panel in real Chromium, attacked the ways a web page can: framed by another site (a
// clickjacking page), and reached through DNS rebinding (a page whose own host name is made to
// point at the unit, so its scripts talk to the unit as their own origin). Before: no Content-
// Security-Policy, no frame-ancestors, no nosniff, no Referrer-Policy, and any Host was answered,
// so a rebinding page got the panel and its login. Now every answer carries the headers, and a
// request addressed to a name that is not the unit's own is refused (421).

const REBIND_HOST = 'rebind.example';

async function unit(t: Parameters<typeof launchUnit>[0]): Promise<UnitProcess> {
  return launchUnit(t, { name: 'Front Door', readyTimeoutMs: 90_000 });
}

test.serial('over HTTP: every answer carries the browser headers; only the unit\'s own names are answered', async (t) => {
  t.timeout(120_000);
  const a = await unit(t);
  for (const path of ['/', '/js/main.js', '/api/health', '/api/session', '/api/nothing-here']) {
    const response = await fetch(`${a.baseUrl}${path}`);
    await response.arrayBuffer();
    const csp = response.headers.get('content-security-policy') ?? '';
    t.regex(csp, /default-src 'self'/, path);
    t.regex(csp, /script-src 'self'(;|$)/, `${path}: no inline or foreign scripts`);
    t.regex(csp, /frame-ancestors 'none'/, path);
    t.is(response.headers.get('x-content-type-options'), 'nosniff', path);
    t.is(response.headers.get('x-frame-options'), 'DENY', path);
    t.is(response.headers.get('referrer-policy'), 'no-referrer', path);
  }
  const asHost = async (host: string) => {
    // fetch() will not send another Host; a raw request will.
    const { request } = await import('node:http');
    return new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: a.httpPort, path: '/api/health', headers: { host } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
  };
  t.is(await asHost(`127.0.0.1:${a.httpPort}`), 200);
  t.is(await asHost(`localhost:${a.httpPort}`), 200);
  t.is(await asHost(`front-door.local:${a.httpPort}`), 200, 'the unit name under .local');
  t.is(await asHost(`FRONT-DOOR:${a.httpPort}`), 200, 'the unit name, any case');
  t.is(await asHost(`${REBIND_HOST}:${a.httpPort}`), 421, 'another name is refused');
  t.is(await asHost('127.0.0.1.evil.example'), 421);
  t.is(await asHost(`[::2]:${a.httpPort}`), 421);
});

test.serial('in Chromium: the panel works under its policy, another site cannot frame it, and a DNS-rebinding page gets nothing', async (t) => {
  t.timeout(180_000);
  const a = await unit(t);
  // Chromium resolves the attacker's name to the unit's address: the rebinding has happened.
  const browser = await launchChromium(t, [`--host-resolver-rules=MAP ${REBIND_HOST} 127.0.0.1`]);

  // The panel itself, logged in, with nothing refused by its own policy.
  const page = await browser.newPage();
  const problems = collectPageProblems(page, 'panel');
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  const response = await page.goto(`${a.baseUrl}/`);
  t.regex(response?.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
  await page.getByLabel('Panel password', { exact: true }).fill(TEST_PANEL_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 30_000 });
  await page.locator('#unit-title', { hasText: 'Front Door' }).waitFor({ timeout: 30_000 });
  t.deepEqual(violations, [], 'the panel needs nothing its policy forbids');
  t.deepEqual(problems, []);

  // Another site frames the panel (clickjacking): the browser refuses to show it.
  const framer = createServer((_request, reply) => {
    reply.setHeader('content-type', 'text/html');
    reply.end(`<!doctype html><title>win a prize</title><iframe id="victim" src="${a.baseUrl}/" width="800" height="600"></iframe>`);
  });
  framer.listen(0, '127.0.0.1');
  await once(framer, 'listening');
  t.teardown(() => new Promise<void>((resolve) => framer.close(() => resolve())));
  const attacker = await browser.newPage();
  const framingRefused = new Promise<string>((resolve) => {
    attacker.on('console', (message) => {
      if (/frame-ancestors|X-Frame-Options/i.test(message.text())) resolve(message.text());
    });
  });
  await attacker.goto(`http://127.0.0.1:${(framer.address() as AddressInfo).port}/`);
  const refusal = await Promise.race([framingRefused, new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000))]);
  t.truthy(refusal, 'Chromium refused to frame the panel');
  const framed = attacker.frames().find((frame) => frame !== attacker.mainFrame());
  const framedLogin = framed ? await framed.locator('#login-password').count().catch(() => 0) : 0;
  t.is(framedLogin, 0, 'no login form shows inside the other site');

  // DNS rebinding: a page from the attacker's own name, now pointing at the unit, asks for the
  // panel and tries the login from its own origin.
  const rebound = await browser.newPage();
  const first = await rebound.goto(`http://${REBIND_HOST}:${a.httpPort}/`);
  t.is(first?.status(), 421, 'the panel is not served under another name');
  const login = await rebound.evaluate(async (password) => {
    const answer = await fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
    return { status: answer.status, body: await answer.text() };
  }, TEST_PANEL_PASSWORD);
  t.is(login.status, 421, `the rebinding page's login attempt: ${login.status} ${login.body}`);
  t.false(login.body.includes('csrfToken'));
  const people = (await a.api('GET', '/api/status')).body.security.people;
  t.is(people.loginsSucceeded, 2, 'only the real logins (the panel and the test\'s own) got in');
});
