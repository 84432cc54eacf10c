import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUnit, type TestUnit } from '../support/unit-harness.js';
import { buildApp, registeredRoutes, type IntercomApp } from '../../src/signaling/app.js';
import { PeopleAccess } from '../../src/security/people-access.js';
import { storePanelPassword, panelPasswordPath, readPanelPassword, verifyPanelPassword } from '../../src/security/people-password.js';
import { FakeClock } from '../support/fake-clock.js';
import { TEST_PANEL_PASSWORD, loginWithInject, sessionCookieFrom, type SessionHeaders } from '../support/people-session.js';
import { peerRequestHeaders } from '../support/peer-signing.js';

// People's login through inject(): which routes are open, sessions, CSRF, the login limiter,
// expiry, logout, and a password that is set or changed while the unit runs.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const FAKE_CALL_ID = '00000000-0000-4000-8000-000000000000';
const HOUR = 3600_000;

/** The only people-facing routes anyone may call without a session. */
const OPEN_API_ROUTES = [
  'GET /api/health',
  'HEAD /api/health',
  'GET /api/session',
  'HEAD /api/session',
  'POST /api/session',
  'DELETE /api/session',
  // The join exchange between a new unit and a unit of the site (CPace: worthless without the code).
  'GET /api/join/hello',
  'HEAD /api/join/hello',
  'POST /api/join/start',
  'POST /api/join/confirm',
];

interface Fixture {
  unit: TestUnit;
  clock: FakeClock;
  dataDir: string;
}

async function withUnit(options: { password?: string | null }, run: (fixture: Fixture) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-people-'));
  const clock = new FakeClock();
  const unit = await startUnit('Hall', { listen: false, dataDir, password: options.password, people: new PeopleAccess({ dataDir, clock }) });
  try {
    await run({ unit, clock, dataDir });
  } finally {
    await unit.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function call(app: IntercomApp, method: string, url: string, options: { auth?: Partial<SessionHeaders> | Record<string, string>; body?: unknown; from?: string } = {}) {
  const response = await app.inject({
    method: method as 'GET',
    url,
    headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.auth },
    payload: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    remoteAddress: options.from,
  });
  let body: any;
  try {
    body = response.json();
  } catch {
    body = response.body;
  }
  return { status: response.statusCode, body, headers: response.headers };
}

/** A URL for a route pattern: parameters get well-formed values, wildcards a file name. */
function concreteUrl(pattern: string): string {
  return pattern.replace(/:callId/g, FAKE_CALL_ID).replace(/:[A-Za-z]+/g, 'x').replace(/\*$/, 'index.html');
}

test('every route needs a session, except /api/health, the login itself, the units\' signed routes and the panel\'s files', async (t) => {
  await withUnit({}, async ({ unit }) => {
    const app = await buildApp({ ...unit.unit.appDeps, webRoot: WEB_ROOT });
    t.teardown(() => app.close());
    await app.ready();
    const routes = registeredRoutes(app);
    const describe = (route: { method: string; url: string }) => `${route.method} ${route.url}`;

    // The table is complete: the routes the API documents are all in it.
    for (const known of ['GET /api/status', 'GET /api/events', 'GET /api/openapi.json', 'POST /api/users/register', 'POST /api/signal/initiate', 'POST /api/door/open', 'GET /api/calls/:callId']) {
      t.true(routes.some((route) => describe(route) === known), known);
    }
    t.deepEqual(routes.filter((route) => route.access === 'open' && route.url.startsWith('/api')).map(describe).sort(), [...OPEN_API_ROUTES].sort());
    for (const route of routes.filter((candidate) => candidate.access === 'unit')) t.true(route.url.startsWith('/api/unit/'), describe(route));
    for (const route of routes.filter((candidate) => candidate.access === 'open' && !candidate.url.startsWith('/api'))) {
      t.false(route.url.startsWith('/api'), `${describe(route)} serves the panel's files`);
    }

    // Each closed route, asked without a session, answers 401 with a reason (nothing else runs).
    const closed = routes.filter((route) => route.access === 'person');
    t.true(closed.length >= 14);
    for (const route of closed) {
      const url = concreteUrl(route.url);
      const answer = await call(app, route.method, url, { body: route.method === 'POST' ? { name: 'Intruder', callId: FAKE_CALL_ID } : undefined });
      t.is(answer.status, 401, `${route.method} ${url}`);
      if (route.method !== 'HEAD') t.is(answer.body.error, 'unauthenticated', `${route.method} ${url}`);
      // A cookie that names no session is no better.
      const forged = await call(app, route.method, url, { auth: { cookie: 'intercom_session=forged' } });
      t.is(forged.status, 401, `${route.method} ${url} with a forged cookie`);
    }
    t.deepEqual(unit.unit.users.list(), [], 'no refused request changed anything');
    // Unknown /api paths are closed too; the panel is open.
    t.is((await call(app, 'GET', '/api/no-such-route')).status, 401);
    t.is((await call(app, 'GET', '/api/no-such-route', { auth: unit.auth })).status, 404);
    t.is((await call(app, 'GET', '/api/health')).status, 200);
    const panel = await app.inject({ method: 'GET', url: '/' });
    t.is(panel.statusCode, 200);
    t.regex(panel.body, /<form[^>]+id="login-form"/);
    t.is((await app.inject({ method: 'GET', url: '/js/main.js' })).statusCode, 200);
    // Unit-to-unit routes keep their own authentication: the site secret's signature, not a session.
    t.is((await call(app, 'GET', '/api/unit/info')).status, 401);
    t.is((await call(app, 'GET', '/api/unit/info', { auth: unit.auth })).status, 401, 'a session is not a unit');
    t.is((await call(app, 'GET', '/api/unit/info', { auth: peerRequestHeaders(unit.unit.unitId, { method: 'GET', url: '/api/unit/info' }) })).status, 200);
  });
});

test('login: the cookie is HttpOnly, SameSite=Strict, Path=/; wrong or malformed passwords are refused with a reason', async (t) => {
  await withUnit({}, async ({ unit }) => {
    const { app } = unit;
    t.deepEqual((await call(app, 'GET', '/api/session')).body, { authenticated: false, passwordSet: true });
    const wrong = await call(app, 'POST', '/api/session', { body: { password: 'not the password' } });
    t.is(wrong.status, 401);
    t.is(wrong.body.error, 'wrong-password');
    t.is(wrong.headers['set-cookie'], undefined);
    for (const [body, reason] of [
      [{}, 'no password field'],
      [{ password: 42 }, 'a number'],
      [{ password: '' }, 'empty'],
      [{ password: 'x'.repeat(5000) }, 'too long'],
      ['{"password": "unterminated', 'bad JSON'],
      ['', 'empty body'],
      [[], 'an array'],
    ] as Array<[unknown, string]>) {
      const answer = await call(app, 'POST', '/api/session', { body });
      t.is(answer.status, 400, reason);
      t.true(answer.body.message.length > 0, reason);
    }
    const text = await call(app, 'POST', '/api/session', { body: undefined, auth: {} });
    t.true(text.status >= 400 && text.status < 500);

    const login = await app.inject({ method: 'POST', url: '/api/session', payload: { password: TEST_PANEL_PASSWORD } });
    t.is(login.statusCode, 200);
    const setCookie = String(login.headers['set-cookie']);
    t.regex(setCookie, /^intercom_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    const csrfToken = login.json().csrfToken as string;
    t.regex(csrfToken, /^[A-Za-z0-9_-]{43}$/);
    const cookie = sessionCookieFrom(login.headers['set-cookie'])!;
    t.deepEqual((await call(app, 'GET', '/api/session', { auth: { cookie } })).body, { authenticated: true, passwordSet: true, csrfToken });
    t.is((await call(app, 'GET', '/api/status', { auth: { cookie } })).status, 200);
    t.like((await call(app, 'GET', '/api/status', { auth: { cookie } })).body.security.people, { passwordSet: true, loginsFailed: 1 });
  });
});

test('state-changing requests need the session\'s own CSRF token: missing or wrong -> 403, nothing changes', async (t) => {
  await withUnit({}, async ({ unit }) => {
    const { app } = unit;
    const other = await loginWithInject(app);
    const cases: Array<[string, Partial<SessionHeaders>]> = [
      ['missing', { cookie: unit.auth.cookie }],
      ['empty', { cookie: unit.auth.cookie, 'x-csrf-token': '' }],
      ['wrong', { cookie: unit.auth.cookie, 'x-csrf-token': 'A'.repeat(43) }],
      ["another session's", { cookie: unit.auth.cookie, 'x-csrf-token': other['x-csrf-token'] }],
    ];
    for (const [what, auth] of cases) {
      for (const [url, body] of [['/api/users/register', { name: 'Kitchen' }], ['/api/signal/end', { callId: FAKE_CALL_ID }], ['/api/door/open', undefined]] as const) {
        const answer = await call(app, 'POST', url, { auth, body });
        t.is(answer.status, 403, `${what} token, ${url}`);
        t.is(answer.body.error, 'csrf');
      }
      t.is((await call(app, 'DELETE', '/api/session', { auth })).status, 403, `${what} token, logout`);
    }
    t.deepEqual(unit.unit.users.list(), []);
    // Reading needs no token; the right token works.
    t.is((await call(app, 'GET', '/api/users', { auth: { cookie: unit.auth.cookie } })).status, 200);
    t.is((await call(app, 'POST', '/api/users/register', { auth: unit.auth, body: { name: 'Kitchen' } })).status, 201);
    t.is((await call(app, 'POST', '/api/users/register', { auth: other, body: { name: 'Garage' } })).status, 201);
  });
});

test('login is rate-limited per address: 5 wrong passwords, then 429 with Retry-After until the wait is over', async (t) => {
  await withUnit({}, async ({ unit, clock }) => {
    const { app } = unit;
    const attacker = '192.0.2.7';
    for (let attempt = 1; attempt <= 5; attempt++) {
      t.is((await call(app, 'POST', '/api/session', { body: { password: `guess-${attempt}` }, from: attacker })).status, 401, `attempt ${attempt}`);
    }
    const limited = await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD }, from: attacker });
    t.is(limited.status, 429, 'even the right password waits');
    t.is(limited.body.error, 'too-many-attempts');
    t.is(limited.headers['retry-after'], '60');
    // Another address is not affected.
    t.is((await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD }, from: '192.0.2.8' })).status, 200);

    await clock.advance(59_000);
    const stillLimited = await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD }, from: attacker });
    t.is(stillLimited.status, 429);
    t.is(stillLimited.headers['retry-after'], '1');
    await clock.advance(1_000);
    // One more wrong guess doubles the wait.
    t.is((await call(app, 'POST', '/api/session', { body: { password: 'guess-6' }, from: attacker })).status, 401);
    t.is((await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD }, from: attacker })).headers['retry-after'], '120');
    await clock.advance(120_000);
    t.is((await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD }, from: attacker })).status, 200);
    // A successful login clears the record: the next wrong password is a free one again.
    t.is((await call(app, 'POST', '/api/session', { body: { password: 'oops' }, from: attacker })).status, 401);
    t.is((await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD }, from: attacker })).status, 200);
    t.like((await call(app, 'GET', '/api/status', { auth: unit.auth })).body.security.people, { loginsFailed: 7, loginsRateLimited: 3 });
  });
});

test('parallel guesses from one address are checked one after another: still only 5 get a check', async (t) => {
  await withUnit({}, async ({ unit }) => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, index) => call(unit.app, 'POST', '/api/session', { body: { password: `parallel guess ${index}` }, from: '198.51.100.1' })),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    t.deepEqual(statuses, [...Array(5).fill(401), ...Array(7).fill(429)]);
    // A flood larger than the queue is turned away without waiting for a check.
    const flood = await Promise.all(
      Array.from({ length: 40 }, (_, index) => call(unit.app, 'POST', '/api/session', { body: { password: `flood ${index}` }, from: `203.0.113.${index}` })),
    );
    const refusedAtOnce = flood.filter((answer) => answer.status === 429);
    t.true(refusedAtOnce.length >= 40 - 17, `${refusedAtOnce.length} of 40 refused at once`);
    t.is(refusedAtOnce[0]?.headers['retry-after'], '1');
    t.true(flood.every((answer) => answer.status === 401 || answer.status === 429));
  });
});

test('sessions end after 12 h without use (use keeps them alive), and 7 days after login in any case', async (t) => {
  await withUnit({}, async ({ unit, clock }) => {
    const { app } = unit;
    const idle = await loginWithInject(app);
    const busy = await loginWithInject(app);
    for (let hour = 0; hour < 11; hour++) {
      await clock.advance(HOUR);
      t.is((await call(app, 'GET', '/api/users', { auth: busy })).status, 200);
    }
    t.is((await call(app, 'GET', '/api/users', { auth: idle })).status, 200, 'idle 11 h: still logged in');
    await clock.advance(12 * HOUR);
    const expired = await call(app, 'GET', '/api/users', { auth: idle });
    t.is(expired.status, 401);
    t.regex(expired.body.message, /log in again/);
    t.deepEqual((await call(app, 'GET', '/api/session', { auth: idle })).body, { authenticated: false, passwordSet: true });

    const week = await loginWithInject(app);
    for (let day = 0; day < 7; day++) {
      await clock.advance(11 * HOUR);
      t.is((await call(app, 'GET', '/api/users', { auth: week })).status, 200, `day ${day}`);
      await clock.advance(11 * HOUR);
      if (day < 6) t.is((await call(app, 'GET', '/api/users', { auth: week })).status, 200, `day ${day}, evening`);
    }
    await clock.advance(2 * HOUR * 7);
    t.is((await call(app, 'GET', '/api/users', { auth: week })).status, 401, 'a week after login');
  });
});

test('logout ends the session and clears the cookie; logging out without a session is harmless', async (t) => {
  await withUnit({}, async ({ unit }) => {
    const { app } = unit;
    const other = await loginWithInject(app);
    const out = await call(app, 'DELETE', '/api/session', { auth: unit.auth });
    t.is(out.status, 200);
    t.deepEqual(out.body, { authenticated: false, passwordSet: true });
    t.regex(String(out.headers['set-cookie']), /^intercom_session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict$/);
    t.is((await call(app, 'GET', '/api/users', { auth: unit.auth })).status, 401);
    t.is((await call(app, 'POST', '/api/users/register', { auth: unit.auth, body: { name: 'Kitchen' } })).status, 401);
    t.is((await call(app, 'GET', '/api/users', { auth: other })).status, 200, 'other sessions stay');
    t.is((await call(app, 'DELETE', '/api/session')).status, 200);
    t.is((await call(app, 'DELETE', '/api/session', { auth: unit.auth })).status, 200, 'twice');
  });
});

test('without a password nobody can log in and the answer says how to set one; setting it while running takes effect at once', async (t) => {
  await withUnit({ password: null }, async ({ unit, dataDir }) => {
    const { app } = unit;
    const state = await call(app, 'GET', '/api/session');
    t.like(state.body, { authenticated: false, passwordSet: false });
    t.regex(state.body.howToSetPassword, /sudo intercom password/);
    t.regex(state.body.howToSetPassword, /panel_password=/);
    for (const password of ['', 'password', 'admin', 'intercom', TEST_PANEL_PASSWORD]) {
      const login = await call(app, 'POST', '/api/session', { body: { password } });
      t.true(login.status === 409 || login.status === 400, `"${password}" -> ${login.status}`);
      t.is(login.headers['set-cookie'], undefined);
    }
    t.is((await call(app, 'POST', '/api/session', { body: { password: 'anything-at-all' } })).body.error, 'no-password');
    t.is((await call(app, 'GET', '/api/status')).status, 401);

    // `intercom password` writes the file (same code); the running app uses it at the next request.
    await storePanelPassword(dataDir, 'first password');
    t.like((await call(app, 'GET', '/api/session')).body, { passwordSet: true });
    t.is((await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD } })).status, 401);
    const first = await loginWithInject(app, 'first password');
    t.is((await call(app, 'GET', '/api/status', { auth: first })).status, 200);

    // A new password ends the sessions of the old one, and only the new one works.
    await storePanelPassword(dataDir, 'second password');
    t.is((await call(app, 'GET', '/api/status', { auth: first })).status, 401);
    t.is((await call(app, 'POST', '/api/session', { body: { password: 'first password' } })).status, 401);
    const second = await loginWithInject(app, 'second password');
    t.is((await call(app, 'GET', '/api/status', { auth: second })).status, 200);
  });
});

test('a damaged password file closes the login (no default, no 500) until the password is set again', async (t) => {
  await withUnit({}, async ({ unit, dataDir }) => {
    const { app } = unit;
    for (const damage of ['', '{"algorithm":"none"}', 'not json', '{"algorithm":"scrypt","N":16384,"r":8,"p":1,"salt":"","hash":""}']) {
      await writeFile(panelPasswordPath(dataDir), damage);
      const login = await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD } });
      t.is(login.status, 409, JSON.stringify(damage));
      t.is((await call(app, 'GET', '/api/users', { auth: unit.auth })).status, 401, 'sessions end too');
      t.false((await call(app, 'GET', '/api/session')).body.passwordSet);
    }
    await storePanelPassword(dataDir, TEST_PANEL_PASSWORD);
    t.is((await call(app, 'POST', '/api/session', { body: { password: TEST_PANEL_PASSWORD } })).status, 200);
  });
});

test('the stored password is an scrypt hash with its own salt, never the password', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-pw-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await storePanelPassword(dataDir, 'Grüße aus der Küche');
  const record = (await readPanelPassword(dataDir))!;
  t.is(record.algorithm, 'scrypt');
  t.false(JSON.stringify(record).includes('Küche'));
  t.true(await verifyPanelPassword(record, 'Grüße aus der Küche'));
  // Same text in another Unicode form (as another keyboard may send it) is the same password.
  t.true(await verifyPanelPassword(record, 'Grüße aus der Küche'.normalize('NFD')));
  t.false(await verifyPanelPassword(record, 'Grüße aus der Küche '));
  await storePanelPassword(dataDir, 'Grüße aus der Küche');
  t.not((await readPanelPassword(dataDir))!.salt, record.salt);
  await t.throwsAsync(() => storePanelPassword(dataDir, 'short'), { message: /at least 8/ });
  await t.throwsAsync(() => storePanelPassword(dataDir, 'line\nbreak password'), { message: /control characters/ });
});
