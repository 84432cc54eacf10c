import test from 'ava';
import { startUnit, type TestUnit } from './unit-harness.js';

// Route tests through inject(): every endpoint, its good answer and each kind of bad input.
// The unit is not listening and has no peers; calls to other units are covered in two-units.test.ts.

async function withUnit(run: (unit: TestUnit) => Promise<void>): Promise<void> {
  const unit = await startUnit('Hall', { listen: false });
  try {
    await run(unit);
  } finally {
    await unit.close();
  }
}

// Every request as the unit's logged-in session (test/security/people-access.test.ts covers the login).
async function post(unit: TestUnit, url: string, payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await unit.app.inject({ method: 'POST', url, payload: typeof payload === 'string' ? payload : JSON.stringify(payload), headers: { ...unit.auth, ...headers } });
  return { status: response.statusCode, body: response.json() };
}

async function get(unit: TestUnit, url: string) {
  const response = await unit.app.inject({ method: 'GET', url, headers: unit.auth });
  return { status: response.statusCode, body: response.json() };
}

const FAKE_CALL_ID = '00000000-0000-4000-8000-000000000000';

test('POST /api/users/register creates a user, is idempotent, and persists it', async (t) => {
  await withUnit(async (unit) => {
    const first = await post(unit, '/api/users/register', { name: 'Front door' });
    t.is(first.status, 201);
    t.like(first.body, { created: true, user: { name: 'Front door', unitName: 'Hall', local: true, online: true, unitId: unit.services.unitId } });
    const again = await post(unit, '/api/users/register', { name: 'front DOOR' });
    t.is(again.status, 200);
    t.like(again.body, { created: false, user: { name: 'Front door' } });
    t.deepEqual(unit.services.users.list().map((user) => user.name), ['Front door']);
  });
});

test('POST /api/users/register refuses bad input with 4xx and a reason', async (t) => {
  await withUnit(async (unit) => {
    const cases: Array<[unknown, number, string]> = [
      [{}, 400, 'bad-request'],
      [{ name: '' }, 400, 'bad-request'],
      [{ name: 42 }, 400, 'bad-request'],
      [{ name: 'x'.repeat(41) }, 400, 'bad-request'],
      [{ name: '../etc/passwd' }, 400, 'bad-request'],
      [{ name: ' leading space' }, 400, 'bad-request'],
      [[], 400, 'bad-request'],
      ['{"name": "Kitchen"', 400, 'bad-json'],
      ['', 400, 'bad-json'],
    ];
    for (const [payload, status, error] of cases) {
      const response = await post(unit, '/api/users/register', payload);
      t.is(response.status, status, JSON.stringify(payload));
      t.is(response.body.error, error, JSON.stringify(payload));
      t.true(response.body.message.length > 0);
    }
    t.deepEqual(unit.services.users.list(), []);
  });
});

test('oversized bodies get 413, other media types 415, unknown routes 404, never 500', async (t) => {
  await withUnit(async (unit) => {
    const big = await post(unit, '/api/users/register', { name: 'A', padding: 'x'.repeat(20_000) });
    t.is(big.status, 413);
    t.is(big.body.error, 'body-too-large');
    const text = await post(unit, '/api/signal/initiate', 'from=a&to=b', { 'content-type': 'application/x-www-form-urlencoded' });
    t.is(text.status, 415);
    t.is(text.body.error, 'unsupported-media-type');
    const missingType = await unit.app.inject({ method: 'POST', url: '/api/signal/end', payload: '{"callId":"x"}', headers: unit.auth });
    t.true(missingType.statusCode >= 400 && missingType.statusCode < 500);
    const proto = await post(unit, '/api/users/register', '{"name":"A","__proto__":{"polluted":true}}');
    t.is(proto.status, 400);
    const unknown = await get(unit, '/api/nothing-here');
    t.is(unknown.status, 404);
    t.is(unknown.body.error, 'not-found');
    const wrongMethod = await unit.app.inject({ method: 'DELETE', url: '/api/users', headers: unit.auth });
    t.is(wrongMethod.statusCode, 404);
  });
});

test('POST /api/signal/initiate: bad input, unknown users, same unit', async (t) => {
  await withUnit(async (unit) => {
    await post(unit, '/api/users/register', { name: 'Kitchen' });
    await post(unit, '/api/users/register', { name: 'Garage' });
    const expectations: Array<[unknown, number, string]> = [
      [{ from: 'Kitchen' }, 400, 'bad-request'],
      [{ from: 'Kitchen', to: 7 }, 400, 'bad-request'],
      [{ from: 'Kitchen', to: '' }, 400, 'bad-request'],
      ['not json', 400, 'bad-json'],
      [{ from: 'Nobody', to: 'Kitchen' }, 404, 'unknown-user'],
      [{ from: 'Kitchen', to: 'Nobody' }, 404, 'unknown-user'],
      [{ from: 'Kitchen', to: 'Garage' }, 409, 'same-unit'],
    ];
    for (const [payload, status, error] of expectations) {
      const response = await post(unit, '/api/signal/initiate', payload);
      t.is(response.status, status, JSON.stringify(payload));
      t.is(response.body.error, error, JSON.stringify(payload));
    }
    t.is(unit.services.calls.current(), null);
    t.deepEqual(unit.media.log, []);
  });
});

test('POST /api/signal/accept and /api/signal/end: bad and unknown call ids', async (t) => {
  await withUnit(async (unit) => {
    for (const url of ['/api/signal/accept', '/api/signal/end']) {
      for (const payload of [{}, { callId: 5 }, { callId: 'short' }, { callId: 'has spaces in it!' }]) {
        const response = await post(unit, url, payload);
        t.is(response.status, 400, `${url} ${JSON.stringify(payload)}`);
        t.is(response.body.error, 'bad-request');
      }
      const unknown = await post(unit, url, { callId: FAKE_CALL_ID });
      t.is(unknown.status, 404);
      t.is(unknown.body.error, 'unknown-call');
    }
  });
});

test('GET /api/signal/incoming: needs a user of this unit; lists nothing when idle', async (t) => {
  await withUnit(async (unit) => {
    await post(unit, '/api/users/register', { name: 'Kitchen' });
    t.deepEqual(await get(unit, '/api/signal/incoming?user=Kitchen'), { status: 200, body: { calls: [] } });
    const missing = await get(unit, '/api/signal/incoming');
    t.is(missing.status, 400);
    t.is(missing.body.error, 'bad-request');
    const empty = await get(unit, '/api/signal/incoming?user=');
    t.is(empty.status, 400);
    const unknown = await get(unit, '/api/signal/incoming?user=Nobody');
    t.is(unknown.status, 404);
    t.is(unknown.body.error, 'unknown-user');
  });
});

test('GET /api/users, /api/peers, /api/calls, /api/calls/:id', async (t) => {
  await withUnit(async (unit) => {
    await post(unit, '/api/users/register', { name: 'Kitchen' });
    const users = await get(unit, '/api/users');
    t.is(users.status, 200);
    t.deepEqual(users.body.users, [{ name: 'Kitchen', unitId: unit.services.unitId, unitName: 'Hall', local: true, online: true }]);
    t.deepEqual(await get(unit, '/api/peers'), { status: 200, body: { peers: [] } });
    t.deepEqual(await get(unit, '/api/calls'), { status: 200, body: { current: null, calls: [] } });
    const unknown = await get(unit, `/api/calls/${FAKE_CALL_ID}`);
    t.is(unknown.status, 404);
    t.is(unknown.body.error, 'unknown-call');
    t.is((await get(unit, '/api/calls/bad!id')).status, 400);
  });
});

test('GET /api/status and /api/health describe the unit', async (t) => {
  await withUnit(async (unit) => {
    await post(unit, '/api/users/register', { name: 'Kitchen' });
    unit.media.audioAvailable = false;
    unit.media.audioError = 'no playback device matches "USB"';
    const status = await get(unit, '/api/status');
    t.is(status.status, 200);
    t.like(status.body, {
      unit: { id: unit.services.unitId, name: 'Hall', version: '0.0.0-test' },
      audio: { available: false, captureDevice: null, playbackDevice: null, error: 'no playback device matches "USB"' },
      call: null,
      users: ['Kitchen'],
      peers: { known: 0, online: 0 },
    });
    t.true(Number.isInteger(status.body.uptimeS));
    t.true(Array.isArray(status.body.system.loadAverage));
    const health = await get(unit, '/api/health');
    t.is(health.status, 200);
    t.like(health.body, { ok: true, unitId: unit.services.unitId, name: 'Hall', version: '0.0.0-test' });
  });
});

test('unit-to-unit routes validate strictly and answer unknown users and calls with 404', async (t) => {
  await withUnit(async (unit) => {
    await post(unit, '/api/users/register', { name: 'Kitchen' });
    const info = await get(unit, '/api/unit/info');
    t.like(info.body, { unitId: unit.services.unitId, name: 'Hall', users: ['Kitchen'], inCall: false });
    const offer = {
      callId: FAKE_CALL_ID,
      caller: { user: 'Door', unitId: '11111111-2222-4333-8444-555555555555', unitName: 'Other', httpPort: 5000 },
      callee: { user: 'Kitchen' },
    };
    t.is((await post(unit, '/api/unit/calls', { ...offer, extra: 1 })).status, 400);
    t.is((await post(unit, '/api/unit/calls', { ...offer, caller: { ...offer.caller, httpPort: 0 } })).status, 400);
    const nobody = await post(unit, '/api/unit/calls', { ...offer, callee: { user: 'Nobody' } });
    t.is(nobody.status, 404);
    t.is(nobody.body.error, 'unknown-user');
    const media = { address: '', udpPort: 40000, format: 'rtp-opus', ssrc: 1, frameMs: 20 };
    t.is((await post(unit, `/api/unit/calls/${FAKE_CALL_ID}/accept`, { media: { ...media, format: 'mp3' } })).status, 400);
    t.is((await post(unit, `/api/unit/calls/${FAKE_CALL_ID}/accept`, { media: { ...media, udpPort: 70000 } })).status, 400);
    t.is((await post(unit, `/api/unit/calls/${FAKE_CALL_ID}/accept`, { media })).status, 404);
    t.is((await post(unit, `/api/unit/calls/${FAKE_CALL_ID}/end`, { reason: 'bored' })).status, 400);
    t.is((await post(unit, `/api/unit/calls/${FAKE_CALL_ID}/end`, { reason: 'hung-up' })).status, 404);
    t.is((await get(unit, `/api/unit/calls/${FAKE_CALL_ID}`)).status, 404);

    // A ringing offer shows up as an incoming call, and the caller's end stops it.
    const ringing = await post(unit, '/api/unit/calls', offer);
    t.deepEqual(ringing, { status: 200, body: { result: 'ringing' } });
    t.deepEqual(await post(unit, '/api/unit/calls', offer), { status: 200, body: { result: 'ringing' } }, 'a retried offer is idempotent');
    const incoming = await get(unit, '/api/signal/incoming?user=kitchen');
    t.is(incoming.body.calls.length, 1);
    t.like(incoming.body.calls[0], { id: FAKE_CALL_ID, phase: 'ringing', direction: 'incoming', caller: { user: 'Door', unitName: 'Other' } });
    const otherOffer = { ...offer, callId: '99999999-0000-4000-8000-000000000000' };
    t.deepEqual((await post(unit, '/api/unit/calls', otherOffer)).body, { result: 'busy' });
    t.deepEqual((await get(unit, `/api/unit/calls/${FAKE_CALL_ID}`)).body, { callId: FAKE_CALL_ID, phase: 'ringing', endReason: null });
    t.deepEqual((await post(unit, `/api/unit/calls/${FAKE_CALL_ID}/end`, { reason: 'hung-up' })).body, {
      callId: FAKE_CALL_ID,
      phase: 'ended',
      endReason: 'hung-up',
    });
    t.deepEqual((await get(unit, '/api/signal/incoming?user=Kitchen')).body, { calls: [] });
    const accepted = await post(unit, '/api/signal/accept', { callId: FAKE_CALL_ID });
    t.is(accepted.status, 409);
    t.is(accepted.body.error, 'call-ended');
    t.like(accepted.body.call, { id: FAKE_CALL_ID, endReason: 'hung-up' });
    const ended = await post(unit, '/api/signal/end', { callId: FAKE_CALL_ID });
    t.is(ended.status, 200, 'ending an ended call is not an error');
    t.like(ended.body.call, { phase: 'ended', endReason: 'hung-up' });
  });
});

test('a peer request verifier can refuse unit-to-unit requests (the authentication hook)', async (t) => {
  const unit = await startUnit('Hall', { listen: false });
  try {
    const seen: string[] = [];
    const { buildApp } = await import('../../src/signaling/app.js');
    const guarded = await buildApp({
      ...unit.services.appDeps,
      verifyPeerRequest: (request) => {
        seen.push(`${request.method} ${request.url} ${request.rawBody}`);
        return request.headers['x-test-signature'] === 'good';
      },
    });
    const refused = await guarded.inject({ method: 'POST', url: `/api/unit/calls/${FAKE_CALL_ID}/end`, payload: { reason: 'hung-up' } });
    t.is(refused.statusCode, 401);
    const allowed = await guarded.inject({ method: 'GET', url: '/api/unit/info', headers: { 'x-test-signature': 'good' } });
    t.is(allowed.statusCode, 200);
    t.deepEqual(seen, [`POST /api/unit/calls/${FAKE_CALL_ID}/end {"reason":"hung-up"}`, 'GET /api/unit/info ']);
    const publicRoute = await guarded.inject({ method: 'GET', url: '/api/health' });
    t.is(publicRoute.statusCode, 200, 'public routes are not guarded by the peer verifier');
    await guarded.close();
  } finally {
    await unit.close();
  }
});

test('GET /api/openapi.json documents every public and unit-to-unit route from the schemas', async (t) => {
  await withUnit(async (unit) => {
    const { status, body } = await get(unit, '/api/openapi.json');
    t.is(status, 200);
    t.is(body.openapi, '3.1.0');
    const routes = Object.entries(body.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    for (const route of [
      'POST /api/users/register',
      'POST /api/signal/initiate',
      'POST /api/signal/accept',
      'POST /api/signal/end',
      'GET /api/signal/incoming',
      'GET /api/users',
      'GET /api/peers',
      'GET /api/calls',
      'GET /api/calls/{callId}',
      'GET /api/status',
      'GET /api/health',
      'GET /api/events',
      'GET /api/unit/info',
      'POST /api/unit/calls',
      'POST /api/unit/calls/{callId}/accept',
      'POST /api/unit/calls/{callId}/end',
      'GET /api/unit/calls/{callId}',
      'GET /api/session',
      'POST /api/session',
      'DELETE /api/session',
    ]) {
      t.true(routes.includes(route), route);
    }
    const initiate = body.paths['/api/signal/initiate'].post;
    t.deepEqual(Object.keys(initiate.requestBody.content['application/json'].schema.properties).sort(), ['from', 'to']);
    t.truthy(initiate.responses['404']);
  });
});
