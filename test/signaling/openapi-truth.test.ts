import wavefile from 'wavefile';
import test from 'ava';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startUnit, connectUnits, api, waitForCall, type TestUnit } from '../support/unit-harness.js';
import { buildApp, registeredRoutes, type IntercomApp } from '../../src/signaling/app.js';
import type { DoorPulseResult } from '../../src/gpio/gpio-service.js';
import type { DoorRequestResult, PeerDoorResult } from '../../src/calls/peer-door.js';
import { loginWithInject, TEST_PANEL_PASSWORD } from '../support/people-session.js';
import { peerRequestHeaders } from '../support/peer-signing.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateSiteSecret, storeSiteSecret } from '../../src/security/site-secret.js';

// The OpenAPI document at /api/openapi.json tells the truth: every status code a route answers is
// documented for that route and method. Every registered route is driven through inject() with a
// spread of requests (no session, a forged cookie, a missing or wrong CSRF token, bad JSON, an empty
// JSON body, other content types, an oversized body, missing fields, unknown, malformed and
// over-long ids) and with valid requests: on a unit with a ringing call, on one whose data disk
// fails, on one without a password, and on two units in a real call (whose unit-to-unit traffic is
// recorded too). Each answer's status is looked up in the document of the app that gave it.

const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));
const FAKE_CALL_ID = '00000000-0000-4000-8000-000000000000';
/** A call that exists on the walked unit (offered to it before the walk). */
const OFFER_ID = '11111111-0000-4000-8000-000000000000';
/** Requests of the walk come from here, so its wrong passwords never rate-limit the test's own logins. */
const STRANGER = '192.0.2.99';
const PEER_SIGNATURE = 'x-test-signature';
const MEDIA = { udpPort: 40000, format: 'rtp-opus', ssrc: 1, frameMs: 20 };
/**
 * The calling unit of the walked offers: a real listening unit of the test site, because the walked
 * unit confirms a caller at the address its offer came from before it rings.
 */
const offerCaller = { user: 'Door', unitId: '', unitName: 'Caller', httpPort: 9 };

interface Observed {
  app: string;
  method: string;
  /** The route's fastify pattern, /api/calls/:callId */
  route: string;
  status: number;
  /** What was asked, for the failure message. */
  what: string;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
}

/** Records each answer under the route its URL belongs to, with the document of the app that gave it. */
class AnswerLog {
  readonly observed: Observed[] = [];
  private readonly waiting: Array<{ match: (answer: Observed) => boolean; resolve: () => void }> = [];
  readonly documents = new Map<string, OpenApiDocument>();
  private readonly patterns = new Map<string, Array<{ route: string; matches: RegExp }>>();

  async watch(name: string, app: IntercomApp): Promise<void> {
    await app.ready();
    this.documents.set(name, app.swagger() as unknown as OpenApiDocument);
    const routes = [...new Set(registeredRoutes(app).map((route) => route.url))].filter((url) => url.startsWith('/api'));
    this.patterns.set(
      name,
      routes.map((route) => ({ route, matches: new RegExp(`^${route.replace(/:[A-Za-z]+/g, '[^/]+')}$`) })),
    );
  }

  /** Records every answer the app's HTTP server gives (browser-like requests and the units' own traffic). */
  watchServer(name: string, app: IntercomApp): void {
    app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      response.on('close', () => {
        if (response.headersSent) this.note(name, request.method ?? 'GET', request.url ?? '/', response.statusCode, 'over HTTP');
      });
    });
  }

  note(app: string, method: string, url: string, status: number, what: string): void {
    const path = url.split('?')[0];
    const route = this.patterns.get(app)!.find((pattern) => pattern.matches.test(path))?.route;
    if (!route) return;
    const answer = { app, method, route, status, what: `${method} ${url.slice(0, 80)} ${what}` };
    this.observed.push(answer);
    for (const waiter of this.waiting.filter((candidate) => candidate.match(answer))) {
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  /** Resolves once an answer like `match` has been recorded (at once if one was). */
  seen(match: (answer: Observed) => boolean): Promise<void> {
    if (this.observed.some(match)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ match, resolve }));
  }

  /** Answers whose status the app's document does not list for that route and method. */
  undocumented(): string[] {
    const problems = new Set<string>();
    for (const answer of this.observed) {
      const operation = this.operation(answer.app, answer.method, answer.route);
      if (!operation?.responses[String(answer.status)]) problems.add(`${answer.method} ${answer.route} answered ${answer.status} (${answer.app}: ${answer.what})`);
    }
    return [...problems];
  }

  operation(app: string, method: string, route: string) {
    const path = route.replace(/:([A-Za-z]+)/g, '{$1}');
    // HEAD answers as GET does; the document lists only GET.
    return this.documents.get(app)!.paths[path]?.[method === 'HEAD' ? 'get' : method.toLowerCase()];
  }

  /** The statuses seen per "METHOD route", over all apps. */
  statuses(): Map<string, Set<number>> {
    const seen = new Map<string, Set<number>>();
    for (const answer of this.observed) {
      const key = `${answer.method} ${answer.route}`;
      if (!seen.has(key)) seen.set(key, new Set());
      seen.get(key)!.add(answer.status);
    }
    return seen;
  }
}

/** A valid body for each route that takes one (names and ids the walked unit may or may not know). */
function validBody(method: string, route: string): unknown {
  const bodies: Record<string, unknown> = {
    'POST /api/session': { password: 'not the password' },
    'POST /api/users/register': { name: 'Walker' },
    'POST /api/signal/initiate': { from: 'Walker', to: 'Nobody' },
    'POST /api/signal/accept': { callId: FAKE_CALL_ID },
    'POST /api/signal/end': { callId: FAKE_CALL_ID },
    'POST /api/unit/calls': {
      callId: OFFER_ID,
      caller: offerCaller,
      callee: { user: 'Walker' },
    },
    'POST /api/unit/calls/:callId/accept': { media: MEDIA },
    'POST /api/unit/calls/:callId/end': { reason: 'hung-up' },
    'PUT /api/do-not-disturb': { enabled: false },
    'PUT /api/audio/levels': { volume: 70 },
    'PUT /api/groups/:name': { members: ['Walker', 'Nobody'] },
    'POST /api/unit/groups': { groups: [] },
    'POST /api/site/join': { code: '123456', host: '127.0.0.1:9' },
    // The ristretto255 base point as the share: a valid element (the walked unit may have a code open).
    'POST /api/join/start': { sid: 'A'.repeat(22), share: '4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY', unitId: 'walker-unit-1', name: 'Walker', httpPort: 9 },
    'POST /api/join/confirm': { sid: 'A'.repeat(22), confirm: 'B'.repeat(43) },
  };
  return bodies[`${method} ${route}`] ?? {};
}

/** The bodies every route that reads one is sent: [what, content type or none, payload or none]. */
function bodySpread(method: string, route: string): Array<[string, string | undefined, string | undefined]> {
  return [
    ['no body', undefined, undefined],
    ['a valid body', 'application/json', JSON.stringify(validBody(method, route))],
    ['missing fields', 'application/json', '{}'],
    ['an array', 'application/json', '[]'],
    ['bad JSON', 'application/json', '{"name": "unterminated'],
    ['an empty JSON body', 'application/json', ''],
    ['a form', 'application/x-www-form-urlencoded', 'name=Walker'],
    ['text', 'text/plain', 'hello'],
    ['no content type', undefined, '{"name":"Walker"}'],
    ['an oversized body', 'application/json', JSON.stringify({ name: 'Walker', padding: 'x'.repeat(20_000) })],
  ];
}

/** URLs for a route pattern: a known id, an unknown one, a malformed one, an over-long one, bad encoding; query variants. */
function urlSpread(route: string): string[] {
  if (route === '/api/signal/incoming') return [route, `${route}?user=`, `${route}?user=Nobody`, `${route}?user=Walker`];
  if (!route.includes(':')) return [route];
  if (route.includes(':name')) return ['Reception', 'Nobody', 'bad!name', 'x'.repeat(150), '%zz'].map((name) => route.replace(':name', name));
  return [OFFER_ID, FAKE_CALL_ID, 'bad!id', 'short', 'x'.repeat(150), '%zz'].map((id) => route.replace(':callId', id).replace(':pageId', id));
}

/** Drives every /api route of `app` with the spread, as a stranger, with bad sessions and as the logged-in person. */
async function walk(log: AnswerLog, name: string, app: IntercomApp, auth: { cookie: string; 'x-csrf-token': string }): Promise<void> {
  const headerSets: Array<[string, Record<string, string>]> = [
    ['without a session', {}],
    ['with a forged cookie', { cookie: 'intercom_session=forged' }],
    ['without a CSRF token', { cookie: auth.cookie }],
    ['with a wrong CSRF token', { cookie: auth.cookie, 'x-csrf-token': 'wrong' }],
    ['logged in', auth],
    ['logged in, signed as a unit', { ...auth, [PEER_SIGNATURE]: 'good' }],
  ];
  for (const route of registeredRoutes(app).filter((candidate) => candidate.url.startsWith('/api'))) {
    const bodies = ['GET', 'HEAD'].includes(route.method) ? [['', undefined, undefined] as [string, undefined, undefined]] : bodySpread(route.method, route.url);
    for (const url of urlSpread(route.url)) {
      for (const [who, headers] of headerSets) {
        // A logged-in event stream never ends: it is asked over HTTP on the two units below.
        if (route.url === '/api/events' && headers.cookie === auth.cookie) continue;
        for (const [what, contentType, payload] of bodies) {
          // Logging out would end the session the walk goes on with: log out a session of its own.
          const own = route.method === 'DELETE' && route.url === '/api/session' && headers['x-csrf-token'] === auth['x-csrf-token'] ? await loginWithInject(app) : null;
          const response = await app.inject({
            method: route.method as 'GET',
            url,
            headers: { ...headers, ...own, ...(contentType ? { 'content-type': contentType } : {}) },
            payload,
            remoteAddress: STRANGER,
          });
          log.note(name, route.method, url, response.statusCode, `${who}, ${what}`);
        }
      }
    }
  }
}


test('every status code any route answers is documented for that route and method in /api/openapi.json', async (t) => {
  const log = new AnswerLog();
  const units: TestUnit[] = [];
  const apps: IntercomApp[] = [];
  t.teardown(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await Promise.all(units.map((unit) => unit.close()));
  });

  // 1. One unit walked twice: as the harness builds it (no peer verifier, no door relay), and with a
  //    peer verifier, a door that answers each of its outcomes in turn, a status that fails once
  //    (500), and the panel's files.
  const caller = await startUnit('Caller');
  units.push(caller);
  Object.assign(offerCaller, { unitId: caller.unit.unitId, httpPort: caller.port });
  const walked = await startUnit('Walked', { listen: false });
  units.push(walked);
  await walked.unit.users.add('Walker');
  const offer = JSON.stringify(validBody('POST', '/api/unit/calls'));
  const offered = await walked.app.inject({ method: 'POST', url: '/api/unit/calls', payload: offer, headers: peerRequestHeaders(walked.unit.unitId, { method: 'POST', url: '/api/unit/calls', body: offer }, { unitId: caller.unit.unitId }) });
  t.deepEqual(offered.json(), { result: 'ringing' });
  const doorOutcomes: DoorPulseResult[] = [
    { ok: true, pulseMs: 1000 },
    { ok: false, code: 'no-relay', reason: 'no door relay is configured' },
    { ok: false, code: 'gpio-unavailable', reason: 'GPIO is not available' },
    { ok: false, code: 'no-active-call', reason: 'no active call' },
    { ok: false, code: 'already-open', reason: 'the door relay is already on' },
  ];
  let doorTurn = 0;
  // Opening the other unit's door (the panel's request) and this unit's door for the other unit (its request).
  const peerDoorOutcomes: PeerDoorResult[] = [
    { ok: true, callId: OFFER_ID, unitId: offerCaller.unitId || 'caller-unit', unitName: 'Caller', pulseMs: 1000 },
    { ok: false, code: 'unknown-call', reason: 'no such call' },
    { ok: false, code: 'no-active-call', reason: 'the call is ringing' },
    { ok: false, code: 'no-relay', reason: 'the other unit has no relay' },
    { ok: false, code: 'peer-unreachable', reason: 'the other unit did not answer' },
  ];
  const doorRequestOutcomes: DoorRequestResult[] = [
    { ok: true, pulseMs: 1000 },
    { ok: false, code: 'not-in-call', reason: 'the requesting unit is not in this call' },
    { ok: false, code: 'unknown-call', reason: 'no such call' },
    { ok: false, code: 'no-relay', reason: 'no relay' },
    { ok: false, code: 'no-active-call', reason: 'the call is ringing' },
    { ok: false, code: 'already-open', reason: 'the relay is on' },
  ];
  let peerDoorTurn = 0;
  let doorRequestTurn = 0;
  let statusFails = true;
  const guarded = await buildApp({
    ...walked.unit.appDeps,
    peerAuth: {
      verify: (request) =>
        request.headers[PEER_SIGNATURE] === 'good' ? { ok: true, unitId: offerCaller.unitId } : { ok: false, reason: 'bad-signature', message: 'refused' },
      signAnswer: () => ({}),
    },
    openDoor: () => doorOutcomes[doorTurn++ % doorOutcomes.length],
    peerDoor: {
      open: async () => peerDoorOutcomes[peerDoorTurn++ % peerDoorOutcomes.length],
      handleRequest: () => doorRequestOutcomes[doorRequestTurn++ % doorRequestOutcomes.length],
    },
    status: () => {
      if (statusFails) {
        statusFails = false;
        throw new Error('the status failed (on purpose)');
      }
      return walked.unit.appDeps.status();
    },
    webRoot: WEB_ROOT,
  });
  apps.push(guarded);
  await log.watch('walked', walked.app);
  await log.watch('guarded', guarded);

  // The panel's files are not API routes and are not documented; every /api route is.
  for (const [name, app] of [['walked', walked.app], ['guarded', guarded]] as const) {
    for (const route of registeredRoutes(app)) {
      const documented = log.operation(name, route.method, route.url) !== undefined;
      t.is(documented, route.url.startsWith('/api'), `${name}: ${route.method} ${route.url}`);
    }
  }
  t.true(registeredRoutes(guarded).some((route) => !route.url.startsWith('/api')), 'the guarded app serves the panel');

  await walk(log, 'walked', walked.app, walked.auth as { cookie: string; 'x-csrf-token': string });
  await walk(log, 'guarded', guarded, walked.auth as { cookie: string; 'x-csrf-token': string });

  // The data disk fails while a user registers: full (507), then not writable (503).
  for (const code of ['ENOSPC', 'EROFS']) {
    const add = walked.unit.users.add.bind(walked.unit.users);
    walked.unit.users.add = async () => {
      throw Object.assign(new Error(`${code}: the disk refused the write`), { code });
    };
    const response = await walked.app.inject({ method: 'POST', url: '/api/users/register', headers: { ...walked.auth }, payload: { name: `Disk ${code}` } });
    walked.unit.users.add = add;
    t.is(response.statusCode, code === 'ENOSPC' ? 507 : 503);
    t.is(response.json().error, code === 'ENOSPC' ? 'storage-full' : 'storage-unavailable');
    log.note('walked', 'POST', '/api/users/register', response.statusCode, `on a disk that answers ${code}`);
  }

  // Logins: right (200), wrong (401), too many wrong ones from one address (429), no password at all (409).
  const login = (app: IntercomApp, password: string, from: string) => app.inject({ method: 'POST', url: '/api/session', payload: { password }, remoteAddress: from });
  log.note('walked', 'POST', '/api/session', (await login(walked.app, TEST_PANEL_PASSWORD, '192.0.2.1')).statusCode, 'the right password');
  for (let attempt = 0; attempt < 7; attempt++) log.note('walked', 'POST', '/api/session', (await login(walked.app, 'wrong', '192.0.2.2')).statusCode, `wrong password #${attempt + 1}`);
  const bare = await startUnit('Bare', { listen: false, password: null });
  units.push(bare);
  await log.watch('bare', bare.app);
  log.note('bare', 'POST', '/api/session', (await login(bare.app, 'anything', '192.0.2.3')).statusCode, 'no password set on the unit');

  // 2. Two listening units in a real call: what browsers and the units themselves ask, over HTTP.
  const [a, b] = await Promise.all([startUnit('A'), startUnit('B')]);
  units.push(a, b);
  for (const [name, unit] of [['A', a], ['B', b]] as const) {
    await log.watch(name, unit.app);
    log.watchServer(name, unit.app);
  }
  t.is((await api(a, 'POST', '/api/users/register', { name: 'UserA' })).status, 201);
  t.is((await api(b, 'POST', '/api/users/register', { name: 'UserB' })).status, 201);
  await connectUnits(a, b);
  t.is((await api(b, 'POST', '/api/users/register', { name: 'UserA' })).status, 409, 'names are unique across the site');
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.is(initiated.status, 200);
  const callId = initiated.body.call.id as string;
  t.is((await api(b, 'GET', '/api/signal/incoming?user=UserB')).body.calls.length, 1);
  t.is((await api(b, 'POST', '/api/signal/accept', { callId })).body.call.phase, 'active');
  await waitForCall(a, (call) => call.id === callId && call.phase === 'active');
  for (const url of ['/api/status', '/api/calls', `/api/calls/${callId}`, '/api/users', '/api/peers', '/api/health', '/api/session', '/api/openapi.json']) {
    t.is((await api(a, 'GET', url)).status, 200, url);
  }
  // The event stream never ends: its status is recorded when the server sees the browser go.
  const events = new AbortController();
  const head = await fetch(`${a.baseUrl}/api/events`, { method: 'HEAD', headers: { ...a.auth } });
  t.is(head.status, 200, 'HEAD /api/events answers with the headers and ends');
  t.regex(head.headers.get('content-type') ?? '', /text\/event-stream/);
  const stream = await fetch(`${a.baseUrl}/api/events`, { headers: { ...a.auth }, signal: events.signal });
  t.is(stream.status, 200);
  events.abort();
  await log.seen((answer) => answer.app === 'A' && answer.method === 'GET' && answer.route === '/api/events');
  t.is((await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' })).body.error, 'busy');
  // B opens A's door during the call: A has no GPIO, so A refuses (404 to B's unit), and B's panel is told (409).
  const peerDoor = await api(b, 'POST', `/api/calls/${callId}/open-door`);
  t.like(peerDoor, { status: 409, body: { error: 'gpio-unavailable' } });
  t.is((await api(b, 'POST', '/api/signal/end', { callId })).status, 200);
  await waitForCall(a, (call) => call.id === callId && call.phase === 'ended');
  t.is((await api(b, 'POST', '/api/signal/accept', { callId })).body.error, 'call-ended');

  // B calls A while A calls B: A answers B's call through initiate, and its audio cannot start (503).
  const crossing = await api(b, 'POST', '/api/signal/initiate', { from: 'UserB', to: 'UserA' });
  t.is(crossing.body.call.phase, 'ringing');
  const prepare = a.media.prepare.bind(a.media);
  a.media.prepare = () => {
    throw new Error('no capture device (on purpose)');
  };
  const mediaFailed = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  a.media.prepare = prepare;
  t.is(mediaFailed.status, 503);
  t.like(mediaFailed.body, { error: 'media-failed', call: { id: crossing.body.call.id } }, 'the answer keeps the call the schema documents');
  t.is((await api(a, 'POST', '/api/signal/end', { callId: crossing.body.call.id })).status, 200);

  // Paging: A pages a group with B's user; B plays it, reports hearing it, and stops when A ends it.
  t.is((await api(a, 'PUT', '/api/groups/Flats', { members: ['UserB'] })).status, 200);
  const silentWav = new wavefile.WaveFile();
  silentWav.fromScratch(1, 48_000, '16', new Int16Array(3 * 48_000));
  const paged = await api(a, 'POST', '/api/page', { group: 'Flats', wav: Buffer.from(silentWav.toBuffer()).toString('base64') });
  t.is(paged.status, 200, JSON.stringify(paged.body));
  await log.seen((answer) => answer.app === 'A' && answer.route === '/api/unit/pages/:pageId/heard' && answer.status === 200);
  t.is((await api(a, 'GET', '/api/page')).status, 200);
  // The page route takes a recording (up to 4 MiB), more than the walk's oversized body: a larger one is refused.
  const huge = await a.app.inject({ method: 'POST', url: '/api/page', headers: { ...a.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ group: 'Flats', wav: 'A'.repeat(4 * 1024 * 1024) }) });
  t.is(huge.statusCode, 413);
  log.note('A', 'POST', '/api/page', huge.statusCode, 'a recording over 4 MiB');
  t.is((await api(a, 'POST', '/api/page/end', {})).status, 200);
  await log.seen((answer) => answer.app === 'B' && answer.route === '/api/unit/pages/:pageId/end' && answer.status === 200);

  // 3. Two units that do not share a secret pair by code over HTTP (the open exchange between them
  //    recorded too), then the new one leaves again.
  const fresh = async (name: string) => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `intercom-openapi-${name}-`));
    const secret = generateSiteSecret();
    const unit = await startUnit(name, { dataDir, siteSecret: { secret, source: 'generated', file: await storeSiteSecret(dataDir, secret) } });
    units.push(unit);
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    await log.watch(name, unit.app);
    log.watchServer(name, unit.app);
    return unit;
  };
  const [inviter, joiner] = [await fresh('Inviter'), await fresh('Joiner')];
  const { code } = (await api(inviter, 'POST', '/api/site/invitation')).body as { code: string };
  const wrongCode = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
  t.is((await api(joiner, 'POST', '/api/site/join', { code: wrongCode, host: `127.0.0.1:${inviter.port}` })).status, 403);
  t.is((await api(joiner, 'POST', '/api/site/join', { code, host: `127.0.0.1:${inviter.port}` })).status, 200);
  t.is((await api(joiner, 'POST', '/api/site/join', { code, host: `127.0.0.1:${inviter.port}` })).status, 409, 'in a site now');
  t.is((await api(inviter, 'DELETE', '/api/site/invitation')).status, 200);
  t.is((await api(joiner, 'POST', '/api/site/leave')).status, 200);
  await log.seen((answer) => answer.app === 'Inviter' && answer.route === '/api/join/confirm' && answer.status === 200);

  // 4. A removes Caller from the site: the secret is rotated and handed to B (both steps recorded on B).
  await connectUnits(a, b, caller);
  const removed = await api(a, 'POST', '/api/site/remove', { unitId: caller.unit.unitId });
  t.is(removed.status, 200, JSON.stringify(removed.body));
  t.deepEqual(removed.body.rotated.map((unit: { name: string }) => unit.name), ['B']);
  await log.seen((answer) => answer.app === 'B' && answer.route === '/api/unit/site/rotation/commit' && answer.status === 200);

  // Every answer seen is documented.
  t.deepEqual(log.undocumented(), []);

  // The spread reached what it is for: each route answered with success at least once, each closed
  // route refused a stranger, each state-changing one a missing token, each body reader bad bodies.
  const statuses = log.statuses();
  const byKey = (method: string, route: string) => statuses.get(`${method} ${route}`) ?? new Set<number>();
  for (const route of registeredRoutes(guarded).filter((candidate) => candidate.url.startsWith('/api'))) {
    const seen = byKey(route.method, route.url);
    const description = `${route.method} ${route.url}: ${[...seen].sort().join(', ')}`;
    t.true([...seen].some((status) => status >= 200 && status < 300), `${description} (a success)`);
    if (route.access === 'person') t.true(seen.has(401), `${description} (401)`);
    if (route.access === 'person' && !['GET', 'HEAD'].includes(route.method)) t.true(seen.has(403), `${description} (403)`);
    if (route.access === 'unit') t.true(seen.has(401), `${description} (401 from the peer verifier)`);
    if (!['GET', 'HEAD'].includes(route.method)) {
      for (const status of [400, 413, 415]) t.true(seen.has(status), `${description} (${status})`);
    }
    if (route.url.includes(':')) t.true(seen.has(414) && seen.has(400), `${description} (414 and 400 for the path)`);
  }
  for (const [route, status] of [
    ['POST /api/users/register', 507],
    ['POST /api/users/register', 503],
    ['POST /api/users/register', 409],
    ['POST /api/session', 429],
    ['POST /api/session', 409],
    ['POST /api/signal/initiate', 503],
    ['POST /api/signal/initiate', 409],
    ['POST /api/signal/accept', 409],
    ['POST /api/door/open', 200],
    ['POST /api/door/open', 404],
    ['POST /api/door/open', 409],
    ['POST /api/calls/:callId/open-door', 200],
    ['POST /api/calls/:callId/open-door', 404],
    ['POST /api/calls/:callId/open-door', 409],
    ['POST /api/calls/:callId/open-door', 502],
    ['POST /api/unit/calls/:callId/open-door', 200],
    ['POST /api/unit/calls/:callId/open-door', 403],
    ['POST /api/unit/calls/:callId/open-door', 404],
    ['POST /api/unit/calls/:callId/open-door', 409],
    ['GET /api/status', 500],
  ] as const) {
    t.true(statuses.get(route)?.has(status), `${route} answered ${status}`);
  }
  t.log(`${log.observed.length} answers, ${statuses.size} routes, statuses: ${[...new Set(log.observed.map((answer) => answer.status))].sort().join(' ')}`);
});

test('the served document is the whole document, with the error body on every error answer', async (t) => {
  const unit = await startUnit('Doc', { listen: false });
  t.teardown(() => unit.close());
  const served = await unit.app.inject({ method: 'GET', url: '/api/openapi.json', headers: { ...unit.auth } });
  t.is(served.statusCode, 200);
  const document = served.json() as OpenApiDocument;
  t.deepEqual(document, JSON.parse(JSON.stringify(unit.app.swagger())), 'the answer schema of the document does not filter it');
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      for (const [status, answer] of Object.entries(operation.responses) as Array<[string, { description: string; content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }]>) {
        t.true(answer.description.length > 0 && answer.description !== 'Default Response', `${method} ${path} ${status} is described`);
        if (Number(status) < 400) continue;
        const schema = answer.content?.['application/json']?.schema;
        t.deepEqual(Object.keys(schema?.properties ?? {}).filter((key) => key !== 'call'), ['error', 'message'], `${method} ${path} ${status} has the error body`);
      }
    }
  }
});
