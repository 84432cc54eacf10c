import test from 'ava';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { testSiteSecret } from '../support/test-site.js';
import { signPeerRequest } from '../../src/security/peer-auth.js';
import { RECEIVER_HEADER, SENDER_HEADER } from '../../src/peers/peer-protocol.js';
import { startUnit, type TestUnit } from '../support/unit-harness.js';
import { fuzzRuns, fuzzSeed } from '../support/fuzz-datagrams.js';
import { registeredRoutes } from '../../src/signaling/app.js';
import { loginWithInject, type SessionHeaders } from '../support/people-session.js';

// Random and mutated requests at every route of the HTTP API (the public /api/* routes and the
// unit-to-unit /api/unit/* ones) through inject(): methods, paths, query strings, headers,
// content types and bodies, both as a logged-in person (the whole surface behind the login) and
// as a stranger without a session (every closed route must answer 401). Whatever comes in, the
// answer is a 2xx or a 4xx, and a 4xx carries the API's error body. Reproduce a failure with
// FUZZ_SEED=<seed printed in the test's log>.

/** Fuzzed requests come from this address, so wrong passwords they send never rate-limit the test's own logins. */
const FUZZ_CLIENT = '192.0.2.99';

/** The API's error bodies name their reason in kebab case (schemas.ts ErrorSchema). */
const ERROR_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const BODY_LIMIT = 16 * 1024;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;
type Method = (typeof METHODS)[number];

interface Route {
  method: Method;
  /** Fastify form: /api/calls/:callId */
  path: string;
  /** The body limit the route documents with its 413 (a WAV page takes more than the app's BODY_LIMIT). */
  bodyLimit?: number;
}

/** Every route the app documents, plus the OpenAPI document itself; the event stream never ends, so it is fuzzed only with other methods. */
async function routesOf(unit: TestUnit): Promise<Route[]> {
  await unit.app.ready();
  const document = unit.app.swagger() as { paths: Record<string, Record<string, { responses?: Record<string, { description?: string }> }>> };
  const routes: Route[] = [{ method: 'GET', path: '/api/openapi.json', bodyLimit: BODY_LIMIT }];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const documentedLimit = /larger than (\d+) bytes/.exec(operation.responses?.['413']?.description ?? '')?.[1];
      routes.push({ method: method.toUpperCase() as Method, path: path.replace(/\{(\w+)\}/g, ':$1'), bodyLimit: documentedLimit ? Number(documentedLimit) : BODY_LIMIT });
    }
  }
  return routes;
}

/** inject() resolves URLs as a browser would (backslashes become slashes), so test the path it will request. */
function isEventStream(method: string, url: string): boolean {
  const path = new URL(url, 'http://unit.invalid').pathname;
  return (method === 'GET' || method === 'HEAD') && path.startsWith('/api/events');
}

/** A valid body for each route that takes one, to mutate. */
const CALL_ID = '0f0e0d0c-0b0a-4900-8800-000000000001';
const VALID_BODIES: Record<string, unknown> = {
  '/api/users/register': { name: 'Kitchen' },
  '/api/signal/initiate': { from: 'Kitchen', to: 'Front door' },
  '/api/signal/accept': { callId: CALL_ID },
  '/api/signal/end': { callId: CALL_ID },
  '/api/unit/calls': {
    callId: CALL_ID,
    caller: { user: 'Garage', unitId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', unitName: 'Garage unit', httpPort: 5000 },
    callee: { user: 'Kitchen' },
    keyShare: 'A'.repeat(43),
  },
  '/api/unit/calls/:callId/accept': {
    media: { udpPort: 40000, format: 'rtp-opus', ssrc: 1234, frameMs: 20, srtp: { suite: 'AES_CM_128_HMAC_SHA1_80', keyShare: 'B'.repeat(43), wrappedKey: 'C'.repeat(100) } },
  },
  '/api/unit/calls/:callId/end': { reason: 'hung-up' },
  '/api/session': { password: 'a guessed password' },
};

const paramArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.constant(CALL_ID),
  fc.uuid(),
  fc.stringMatching(/^[A-Za-z0-9-]{1,70}$/),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%zz', '%', '%c0%af', '~', 'null', '__proto__', 'constructor'),
  fc.integer({ min: 90, max: 5000 }).map((length) => 'a'.repeat(length)),
);

/** Ways a path gets mangled on its way (named, so a counterexample prints readably). */
const PATH_MANGLERS = {
  'trailing slash': (path: string) => `${path}/`,
  'leading double slash': (path: string) => `/${path}`,
  'inner double slash': (path: string) => path.replace('/api/', '/api//'),
  'upper case': (path: string) => path.toUpperCase(),
  'dot dot': (path: string) => `${path}/..`,
  traversal: (path: string) => `${path}/../../etc/passwd`,
  'encoded traversal': (path: string) => `${path}/%2e%2e/%2e%2e/etc/passwd`,
  'lone percent': (path: string) => `${path}%`,
  'nul byte': (path: string) => `${path}%00`,
  'matrix parameter': (path: string) => `${path};a=b`,
  fragment: (path: string) => `${path}#fragment`,
  'last character cut': (path: string) => path.slice(0, -1),
  'backslash': (path: string) => path.replaceAll('/', '\\'),
} as const;
const pathManglerArbitrary = fc.oneof(
  fc.record({ kind: fc.constantFrom(...(Object.keys(PATH_MANGLERS) as (keyof typeof PATH_MANGLERS)[])), extra: fc.constant('') }),
  fc.record({ kind: fc.constant('extra segment' as const), extra: fc.string({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant('raw suffix' as const), extra: fc.string({ unit: 'grapheme', maxLength: 12 }) }),
);
type PathMangler = typeof pathManglerArbitrary extends fc.Arbitrary<infer T> ? T : never;

function mangle(path: string, mangler: PathMangler): string {
  if (mangler.kind === 'extra segment') return `${path}/${encodeURIComponent(mangler.extra)}`;
  if (mangler.kind === 'raw suffix') return `${path}${encodeURI(mangler.extra)}`;
  return PATH_MANGLERS[mangler.kind](path);
}

const queryArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 20 }), { maxKeys: 4 }).map((entries) => new URLSearchParams(entries).toString()),
  fc.constantFrom('user=Kitchen', 'user=Kitchen&user=Hall', 'user=', 'user', 'user[]=a', 'user[a]=b', '__proto__[x]=1', 'constructor[prototype][x]=1', '%zz=1', 'a=%zz', '&&&', '=', '?'),
  fc.integer({ min: 1000, max: 20_000 }).map((length) => `user=${'x'.repeat(length)}`),
);

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json;charset=UTF-16',
  'APPLICATION/JSON',
  'application/json, text/plain',
  'application/vnd.api+json',
  'application/jsonp',
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  '',
  ';',
  'application/json; boundary',
  'json',
] as const;

const headerValueArbitrary = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 80 });
const headersArbitrary: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'x-intercom-unit-id',
      'x-intercom-timestamp',
      'x-intercom-nonce',
      'x-intercom-signature',
      'authorization',
      'cookie',
      'x-csrf-token',
      'origin',
      'referer',
      'accept',
      'accept-encoding',
      'accept-language',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-http-method-override',
      'if-none-match',
      'range',
      'expect',
    ),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  ),
  headerValueArbitrary,
  { maxKeys: 5 },
);

/** JSON-level mutations of a valid body: what a confused or hostile client sends. */
function mutatedBodyArbitrary(valid: unknown): fc.Arbitrary<string> {
  const anyJson = fc.jsonValue({ maxDepth: 4 });
  return fc
    .tuple(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('drop' as const), key: fc.nat() }),
          fc.record({ op: fc.constant('set' as const), key: fc.nat(), value: anyJson }),
          fc.record({ op: fc.constant('add' as const), key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'prototype')), value: anyJson }),
          fc.record({ op: fc.constant('deep' as const), key: fc.nat(), value: anyJson }),
          fc.record({ op: fc.constant('wrap' as const) }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      fc.boolean(),
    )
    .map(([operations, truncate]) => {
      let body: unknown = structuredClone(valid);
      for (const operation of operations) {
        if (operation.op === 'wrap') {
          body = [body];
          continue;
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) continue;
        const record = body as Record<string, unknown>;
        const keys = Object.keys(record);
        const key = operation.op === 'add' ? operation.key : keys[operation.key % Math.max(1, keys.length)];
        if (key === undefined) continue;
        if (operation.op === 'drop') delete record[key];
        else if (operation.op === 'deep' && typeof record[key] === 'object' && record[key] !== null) {
          const inner = record[key] as Record<string, unknown>;
          const innerKeys = Object.keys(inner);
          inner[innerKeys[operation.key % Math.max(1, innerKeys.length)] ?? 'x'] = operation.value;
        } else if (operation.op !== 'deep') {
          // defineProperty, so "__proto__" becomes an own key that JSON.stringify writes out.
          Object.defineProperty(record, key, { value: (operation as { value: unknown }).value, enumerable: true, configurable: true, writable: true });
        }
      }
      const text = JSON.stringify(body) ?? 'null';
      return truncate ? text.slice(0, Math.floor(text.length / 2)) : text;
    });
}

const nestedArbitrary: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 10, max: 6000 }), fc.constantFrom('[', '{"a":', '{"__proto__":', '{"name":'), fc.boolean())
  .map(([depth, opener, closed]) => {
    const closer = opener === '[' ? ']' : '}';
    return opener.repeat(depth) + '1' + (closed ? closer.repeat(depth) : '');
  });

function bodyArbitrary(route: Route): fc.Arbitrary<string | Buffer | undefined> {
  const valid = VALID_BODIES[route.path];
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: valid === undefined ? fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? '') : mutatedBodyArbitrary(valid) },
    { weight: 1, arbitrary: valid === undefined ? fc.constant('{}') : fc.constant(JSON.stringify(valid)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 5 }).map((value) => JSON.stringify(value) ?? '') },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: nestedArbitrary },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 40_000 }).map((length) => JSON.stringify({ name: 'x'.repeat(length), callId: 'y'.repeat(length) })) },
  );
}

const requestArbitrary = (routes: Route[]) =>
  fc.constantFrom(...routes).chain((route) =>
    fc.record({
      route: fc.constant(route),
      method: fc.oneof({ weight: 5, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
      param: paramArbitrary,
      // fc.option's freq is one in how many are null: most paths are left whole, most content types given.
      mangle: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: pathManglerArbitrary }),
      query: fc.option(queryArbitrary, { freq: 2 }),
      contentType: fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 5 }),
      headers: headersArbitrary,
      body: bodyArbitrary(route),
    }),
  );
type FuzzRequest = typeof requestArbitrary extends (routes: Route[]) => fc.Arbitrary<infer T> ? T : never;

function toInject(request: FuzzRequest): InjectOptions & { url: string; method: Method } {
  let url = request.route.path.replace(/:\w+/g, request.param);
  if (request.mangle) url = mangle(url, request.mangle);
  if (request.query !== null) url = `${url}?${request.query}`;
  const headers: Record<string, string> = { ...request.headers };
  if (request.contentType !== null) headers['content-type'] = request.contentType;
  else if (request.body !== undefined && !('content-type' in headers)) headers['content-type'] = 'application/json';
  return { method: request.method, url, headers, payload: request.body };
}

/** What every answer must look like; returns why not, or null. */
function problemWith(method: string, response: LightMyRequestResponse): string | null {
  const status = response.statusCode;
  if (status >= 500) return `status ${status}: ${response.body.slice(0, 300)}`;
  if (status < 200 || (status >= 300 && status < 400)) return `unexpected status ${status}`;
  if (method === 'HEAD' || status === 204) return null;
  if (status >= 400) {
    let body: { error?: unknown; message?: unknown };
    try {
      body = response.json();
    } catch {
      return `status ${status} without a JSON body: ${response.body.slice(0, 200)}`;
    }
    if (typeof body.error !== 'string' || !ERROR_NAME.test(body.error)) return `status ${status}: error ${JSON.stringify(body.error)} is not a machine-readable reason (${response.body.slice(0, 200)})`;
    if (typeof body.message !== 'string' || body.message.length === 0) return `status ${status}: no message (${response.body.slice(0, 200)})`;
  }
  return null;
}

async function withUnit(run: (unit: TestUnit, routes: Route[]) => Promise<void>): Promise<void> {
  const unit = await startUnit('Hall', { listen: false });
  try {
    await run(unit, await routesOf(unit));
  } finally {
    await unit.close();
  }
}

test('random and mutated requests at every route, logged in: never a 5xx, every 4xx a JSON {error, message}', async (t) => {
  const seed = fuzzSeed();
  t.log(`seed ${seed} (rerun with FUZZ_SEED=${seed})`);
  await withUnit(async (unit, routes) => {
    t.true(routes.length >= 21, `${routes.length} routes`);
    const statuses = new Map<number, number>();
    const slowest = { ms: 0, url: '' };
    let session: SessionHeaders = unit.auth as SessionHeaders;
    let logins = 0;
    await fc.assert(
      fc.asyncProperty(requestArbitrary(routes), async (request) => {
        const options = toInject(request);
        if (isEventStream(options.method, options.url)) return;
        // The session rides on every request, over whatever cookie or token the fuzzer made up.
        options.headers = { ...(options.headers as Record<string, string>), ...session };
        options.remoteAddress = FUZZ_CLIENT;
        const started = performance.now();
        const response = await unit.app.inject(options);
        const ms = performance.now() - started;
        if (ms > slowest.ms) Object.assign(slowest, { ms, url: `${options.method} ${options.url.slice(0, 80)}` });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        const problem = problemWith(options.method, response);
        if (problem) throw new Error(`${options.method} ${options.url.slice(0, 200)}: ${problem}`);
        // A fuzzed DELETE /api/session logs out: log in again so the rest still runs behind the login.
        if (options.method === 'DELETE') {
          const state = await unit.app.inject({ method: 'GET', url: '/api/session', headers: session });
          if (!state.json().authenticated) {
            session = await loginWithInject(unit.app);
            logins++;
          }
        }
      }),
      { seed, numRuns: fuzzRuns(3000), includeErrorInReport: true },
    );
    t.log(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; slowest ${slowest.ms.toFixed(0)} ms (${slowest.url}); logged in again ${logins} times`);
    const total = [...statuses.values()].reduce((sum, count) => sum + count, 0);
    t.true((statuses.get(401) ?? 0) < total * 0.1, 'most requests got past the login (401s are wrong passwords at POST /api/session)');
    t.is((await unit.app.inject({ method: 'GET', url: '/api/health' })).statusCode, 200);
  });
});

test('random and mutated requests without a valid session: every closed route answers 401, nothing else runs, never a 5xx', async (t) => {
  const seed = fuzzSeed();
  t.log(`seed ${seed} (rerun with FUZZ_SEED=${seed})`);
  await withUnit(async (unit) => {
    // Every route the app has (not only the documented ones), without the open ones and the units' signed ones.
    const closedRoutes: Route[] = registeredRoutes(unit.app)
      .filter((route) => route.access === 'person')
      .map((route) => ({ method: route.method as Method, path: route.url }));
    t.true(closedRoutes.length >= 14, `${closedRoutes.length} closed routes`);
    const forgedCookie = fc.oneof(
      fc.constant(''),
      fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 60 }).map((value) => `intercom_session=${value}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((value) => `intercom_session=${value}`),
      fc.constant(`${unit.auth.cookie}x`),
      fc.constant(`other=1; ${unit.auth.cookie?.slice(0, -1)}`),
    );
    const statuses = new Map<number, number>();
    let exact = 0;
    await fc.assert(
      fc.asyncProperty(requestArbitrary(closedRoutes), forgedCookie, fc.boolean(), async (request, cookie, withToken) => {
        const options = toInject(request);
        const headers = options.headers as Record<string, string>;
        if (cookie) headers.cookie = cookie;
        // A stolen CSRF token without the cookie is worth nothing either.
        if (withToken) headers['x-csrf-token'] = unit.auth['x-csrf-token']!;
        options.remoteAddress = FUZZ_CLIENT;
        const response = await unit.app.inject(options);
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        const problem = problemWith(options.method, response);
        if (problem) throw new Error(`${options.method} ${options.url.slice(0, 200)}: ${problem}`);
        const path = new URL(options.url, 'http://unit.invalid').pathname;
        if (response.statusCode < 300 && !/^\/api\/(health|session)(\/|$)/.test(path)) {
          throw new Error(`${options.method} ${options.url.slice(0, 200)} answered ${response.statusCode} without a session`);
        }
        if (request.mangle === null && request.method === request.route.method) {
          exact++;
          // A parameter too long (414) or badly encoded (400) to route is refused before routing, which tells nothing either.
          const unroutable = request.route.path.includes(':') && (request.param.length > 100 || request.param.includes('%'));
          const allowed = unroutable ? [401, 400, 414] : [401];
          if (!allowed.includes(response.statusCode)) throw new Error(`${options.method} ${options.url.slice(0, 200)}: ${response.statusCode}, not ${allowed.join(' or ')}`);
        }
      }),
      { seed, numRuns: fuzzRuns(2000), includeErrorInReport: true },
    );
    t.log(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; ${exact} requests at a closed route as it is`);
    t.true(exact > 100);
    t.deepEqual(unit.unit.users.list(), [], 'nothing a stranger sent changed the unit');
    t.is(unit.unit.calls.current(), null);
  });
});

test('bodies over the limit get 413 at every route that reads a body, whatever they hold', async (t) => {
  const seed = fuzzSeed();
  t.log(`seed ${seed} (rerun with FUZZ_SEED=${seed})`);
  await withUnit(async (unit, routes) => {
    const bodyRoutes = routes.filter((route) => route.method === 'POST');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...bodyRoutes),
        // How far over the route's own limit (its 413 names it): up to 7 times the app's limit.
        fc.integer({ min: 1, max: 7 * BODY_LIMIT + 1 }),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain'),
        fc.constantFrom('string', 'nested', 'garbage'),
        async (route, over, contentType, shape) => {
          const size = (route.bodyLimit ?? BODY_LIMIT) + over;
          const payload =
            shape === 'string'
              ? JSON.stringify({ name: 'x'.repeat(size) })
              : shape === 'nested'
                ? '['.repeat(size)
                : Buffer.alloc(size, 0xfe);
          const url = route.path.replace(/:\w+/g, CALL_ID);
          const response = await unit.app.inject({ method: 'POST', url, headers: { ...unit.auth, 'content-type': contentType }, payload, remoteAddress: FUZZ_CLIENT });
          const problem = problemWith('POST', response);
          if (problem) throw new Error(`${url}: ${problem}`);
          // Unsupported media types may be refused before the size is known; JSON never gets past the limit.
          const expected = contentType.startsWith('application/json') ? [413] : [413, 415];
          if (!expected.includes(response.statusCode)) throw new Error(`${url} with ${size} bytes of ${contentType}: ${response.statusCode}, not ${expected.join(' or ')}`);
        },
      ),
      { seed, numRuns: fuzzRuns(300), includeErrorInReport: true },
    );
    t.pass();
  });
});

test('deeply nested JSON and huge strings within the limit are refused or accepted quickly, never crash', async (t) => {
  const seed = fuzzSeed();
  t.log(`seed ${seed} (rerun with FUZZ_SEED=${seed})`);
  await withUnit(async (unit, routes) => {
    const bodyRoutes = routes.filter((route) => route.method === 'POST');
    // The first request through each route compiles its validators: not what is measured here.
    for (const route of bodyRoutes) await unit.app.inject({ method: 'POST', url: route.path.replace(/:\w+/g, CALL_ID), headers: { ...unit.auth, 'content-type': 'application/json' }, payload: '{}', remoteAddress: FUZZ_CLIENT });
    let slowestMs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...bodyRoutes),
        fc.oneof(nestedArbitrary, fc.integer({ min: 1, max: BODY_LIMIT - 100 }).map((length) => JSON.stringify({ name: 'é'.repeat(Math.floor(length / 2)) }))),
        async (route, payload) => {
          if (Buffer.byteLength(payload) > BODY_LIMIT) return;
          const url = route.path.replace(/:\w+/g, CALL_ID);
          const started = performance.now();
          const response = await unit.app.inject({ method: 'POST', url, headers: { ...unit.auth, 'content-type': 'application/json' }, payload, remoteAddress: FUZZ_CLIENT });
          slowestMs = Math.max(slowestMs, performance.now() - started);
          const problem = problemWith('POST', response);
          if (problem) throw new Error(`${url} with ${payload.slice(0, 40)}...: ${problem}`);
        },
      ),
      { seed, numRuns: fuzzRuns(400), includeErrorInReport: true },
    );
    t.log(`slowest answer ${slowestMs.toFixed(1)} ms`);
    t.true(slowestMs < 1000);
  });
});

const SITE_SECRET = 'secret-of-the-fuzzed-site-0001';
const SENDER_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

/** How a unit-to-unit request's authentication goes wrong (or right). */
const signingArbitrary = fc.oneof(
  fc.constant({ kind: 'unsigned' as const }),
  fc.constant({ kind: 'signed' as const }),
  fc.constant({ kind: 'replayed' as const }),
  fc.record({ kind: fc.constant('body changed after signing' as const), extra: fc.string({ minLength: 1, maxLength: 5 }) }),
  fc.record({ kind: fc.constant('header replaced' as const), header: fc.constantFrom('x-intercom-timestamp', 'x-intercom-nonce', 'x-intercom-signature', SENDER_HEADER, RECEIVER_HEADER), value: headerValueArbitrary }),
  fc.record({ kind: fc.constant('header dropped' as const), header: fc.constantFrom('x-intercom-timestamp', 'x-intercom-nonce', 'x-intercom-signature', SENDER_HEADER, RECEIVER_HEADER) }),
  fc.record({ kind: fc.constant('clock off' as const), offsetMs: fc.oneof(fc.integer({ min: -1e12, max: 1e12 }), fc.integer({ min: -120_000, max: 120_000 })) }),
  fc.record({ kind: fc.constant('other secret' as const), secret: fc.stringMatching(/^[!-~]{16,40}$/) }),
);

test('unit-to-unit routes of a unit with a site secret: random signatures, headers and bodies; every refusal a counted 401', async (t) => {
  const seed = fuzzSeed();
  t.log(`seed ${seed} (rerun with FUZZ_SEED=${seed})`);
  const unit = await startUnit('Hall', {
    listen: false,
    siteSecret: testSiteSecret(SITE_SECRET),
    maxClockSkewMs: 30_000,
    discovery: { offlineAfterMs: 10_000, requestTimeoutMs: 5000 },
  });
  t.teardown(() => unit.close());
  const { app } = unit;
  const services = unit.unit;
  await services.users.add('Kitchen');
  const session = unit.auth;
  const peerRequests = async () => (await app.inject({ method: 'GET', url: '/api/status', headers: session })).json().security.peerRequests as { accepted: number; rejected: number };
  const unitRoutes: Array<Route & { method: 'GET' | 'POST' }> = [
    { method: 'GET', path: '/api/unit/info' },
    { method: 'POST', path: '/api/unit/calls' },
    { method: 'POST', path: '/api/unit/calls/:callId/accept' },
    { method: 'POST', path: '/api/unit/calls/:callId/end' },
    { method: 'GET', path: '/api/unit/calls/:callId' },
  ];
  const before = await peerRequests();
  let refused = 0;
  const signedRequests: InjectOptions[] = [];
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...unitRoutes), paramArbitrary, signingArbitrary, fc.option(queryArbitrary, { freq: 3 }), async (route, param, signing, query) => {
      const url = route.path.replace(/:\w+/g, param) + (query === null ? '' : `?${query}`);
      const valid = VALID_BODIES[route.path];
      const body = route.method === 'POST' ? JSON.stringify(valid) : '';
      const at = signing.kind === 'clock off' ? Date.now() + signing.offsetMs : Date.now();
      const secret = signing.kind === 'other secret' ? signing.secret : SITE_SECRET;
      let options: InjectOptions;
      if (signing.kind === 'replayed' && signedRequests.length > 0) {
        options = signedRequests[Math.floor(signedRequests.length / 2)];
      } else {
        const headers: Record<string, string> = {
          [SENDER_HEADER]: SENDER_ID,
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(signing.kind === 'unsigned'
            ? {}
            : signPeerRequest({ method: route.method, authority: 'localhost:80', path: url, body, receiver: services.unitId }, { secret, unitId: SENDER_ID, wallClock: () => at })),
        };
        if (signing.kind === 'header replaced') headers[signing.header] = signing.value;
        if (signing.kind === 'header dropped') delete headers[signing.header];
        const payload = signing.kind === 'body changed after signing' && body ? body.replace('}', `,"x":${JSON.stringify(signing.extra)}}`) : body || undefined;
        options = { method: route.method, url, headers, payload };
        if (signing.kind === 'signed') signedRequests.push(options);
      }
      const response = await app.inject(options);
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      const problem = problemWith(route.method, response);
      if (problem) throw new Error(`${route.method} ${url.slice(0, 200)} (${signing.kind}): ${problem}`);
      if (response.statusCode === 401) refused++;
    }),
    { seed, numRuns: fuzzRuns(1500), includeErrorInReport: true },
  );
  const after = await peerRequests();
  t.log(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; peer requests ${JSON.stringify(after)}`);
  t.is(after.rejected - before.rejected, refused, 'every 401 is counted');
  t.true(refused > 100 && after.accepted - before.accepted > 50, 'both refusals and accepted requests were exercised');
});
