import test from 'ava';
import { pino } from 'pino';
import { startUnit, connectUnits, api, waitForCall, type TestUnit } from '../support/unit-harness.js';
import { buildApp } from '../../src/signaling/app.js';
import { GpioService } from '../../src/gpio/gpio-service.js';
import type { GpioConfig } from '../../src/gpio/gpio-config.js';
import { callControlForService } from '../../src/gpio/call-service-control.js';
import { FakeGpioPorts } from '../../src/gpio/ports.js';
import { readThermalZone, THERMAL_ZONE_PATH } from '../../src/system/system-sampler.js';
import { FakeClock } from '../support/fake-clock.js';
import { BOARDS, fakeSysfs } from '../support/fake-gpio.js';
import { peerRequestHeaders, TEST_PEER_UNIT_ID } from '../support/peer-signing.js';
import { DEFAULT_GPIO_CONFIG } from '../support/shipped-config.js';

// Route tests through inject(): every endpoint, its good answer and each kind of bad input.
// Most units here are not listening and have no peers; the status and door tests that need a live
// call set one up between two listening units (calls themselves are covered in two-units.test.ts).

async function withUnit(run: (unit: TestUnit) => Promise<void>): Promise<void> {
  const unit = await startUnit('Hall', { listen: false });
  try {
    await run(unit);
  } finally {
    await unit.close();
  }
}

// Every request as the unit's logged-in session (test/security/people-access.test.ts covers the
// login), and requests to the unit-to-unit routes signed as another unit of the site
// (test/security/unit-routes-auth.test.ts covers their refusals).
const unitRoute = (url: string) => url.startsWith('/api/unit/');

async function post(
  unit: TestUnit,
  url: string,
  payload: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
  signer: string = TEST_PEER_UNIT_ID,
) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const signed = unitRoute(url) ? peerRequestHeaders(unit.unit.unitId, { method: 'POST', url, body }, { unitId: signer }) : {};
  const response = await unit.app.inject({ method: 'POST', url, payload: body, headers: { ...unit.auth, ...signed, ...headers } });
  return { status: response.statusCode, body: response.json() };
}

async function get(unit: TestUnit, url: string, signer: string = TEST_PEER_UNIT_ID) {
  const signed = unitRoute(url) ? peerRequestHeaders(unit.unit.unitId, { method: 'GET', url }, { unitId: signer }) : {};
  const response = await unit.app.inject({ method: 'GET', url, headers: { ...unit.auth, ...signed } });
  return { status: response.statusCode, body: response.json() };
}

const FAKE_CALL_ID = '00000000-0000-4000-8000-000000000000';

test('POST /api/users/register creates a user, is idempotent, and persists it', async (t) => {
  await withUnit(async (unit) => {
    const first = await post(unit, '/api/users/register', { name: 'Front door' });
    t.is(first.status, 201);
    t.like(first.body, { created: true, user: { name: 'Front door', unitName: 'Hall', local: true, online: true, unitId: unit.unit.unitId } });
    const again = await post(unit, '/api/users/register', { name: 'front DOOR' });
    t.is(again.status, 200);
    t.like(again.body, { created: false, user: { name: 'Front door' } });
    t.deepEqual(unit.unit.users.list().map((user) => user.name), ['Front door']);
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
    t.deepEqual(unit.unit.users.list(), []);
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
    const missingType = await unit.app.inject({ method: 'POST', url: '/api/signal/end', payload: '{"callId":"x"}', headers: { ...unit.auth } });
    t.true(missingType.statusCode >= 400 && missingType.statusCode < 500);
    const proto = await post(unit, '/api/users/register', '{"name":"A","__proto__":{"polluted":true}}');
    t.is(proto.status, 400);
    const unknown = await get(unit, '/api/nothing-here');
    t.is(unknown.status, 404);
    t.is(unknown.body.error, 'not-found');
    const wrongMethod = await unit.app.inject({ method: 'DELETE', url: '/api/users', headers: { ...unit.auth } });
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
    t.is(unit.unit.calls.current(), null);
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
    t.deepEqual(users.body.users, [{ name: 'Kitchen', unitId: unit.unit.unitId, unitName: 'Hall', local: true, online: true }]);
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
      unit: { id: unit.unit.unitId, name: 'Hall', version: '0.0.0-test' },
      audio: { available: false, captureDevice: null, playbackDevice: null, error: 'no playback device matches "USB"' },
      call: null,
      users: ['Kitchen'],
      peers: { known: 0, online: 0 },
    });
    t.true(Number.isInteger(status.body.uptimeS));
    t.true(Array.isArray(status.body.system.loadAverage));
    const health = await get(unit, '/api/health');
    t.is(health.status, 200);
    t.like(health.body, { ok: true, unitId: unit.unit.unitId, name: 'Hall', version: '0.0.0-test' });
  });
});

test('unit-to-unit routes validate strictly and answer unknown users and calls with 404', async (t) => {
  // The calling unit is real and listening: a unit confirms its caller at the address the offer came
  // from before it rings.
  const other = await startUnit('Other');
  t.teardown(() => other.close());
  const asOther = (unit: TestUnit, url: string, payload: unknown) => post(unit, url, payload, undefined, other.unit.unitId);
  await withUnit(async (unit) => {
    await post(unit, '/api/users/register', { name: 'Kitchen' });
    const info = await get(unit, '/api/unit/info');
    t.like(info.body, { unitId: unit.unit.unitId, name: 'Hall', users: ['Kitchen'], inCall: false });
    const offer = {
      callId: FAKE_CALL_ID,
      caller: { user: 'Door', unitId: other.unit.unitId, unitName: 'Other', httpPort: other.port },
      callee: { user: 'Kitchen' },
    };
    t.is((await asOther(unit, '/api/unit/calls', { ...offer, extra: 1 })).status, 400);
    t.is((await asOther(unit, '/api/unit/calls', { ...offer, caller: { ...offer.caller, httpPort: 0 } })).status, 400);
    const nobody = await asOther(unit, '/api/unit/calls', { ...offer, callee: { user: 'Nobody' } });
    t.is(nobody.status, 404);
    t.is(nobody.body.error, 'unknown-user');
    const media = { udpPort: 40000, format: 'rtp-opus', ssrc: 1, frameMs: 20 };
    t.is((await asOther(unit, `/api/unit/calls/${FAKE_CALL_ID}/accept`, { media: { ...media, address: '10.6.6.6' } })).status, 400, 'no media address travels: media goes where the unit answers');
    t.is((await asOther(unit, `/api/unit/calls/${FAKE_CALL_ID}/accept`, { media: { ...media, format: 'mp3' } })).status, 400);
    t.is((await asOther(unit, `/api/unit/calls/${FAKE_CALL_ID}/accept`, { media: { ...media, udpPort: 70000 } })).status, 400);
    t.is((await asOther(unit, `/api/unit/calls/${FAKE_CALL_ID}/accept`, { media })).status, 404);
    t.is((await asOther(unit, `/api/unit/calls/${FAKE_CALL_ID}/end`, { reason: 'bored' })).status, 400);
    t.is((await asOther(unit, `/api/unit/calls/${FAKE_CALL_ID}/end`, { reason: 'hung-up' })).status, 404);
    t.is((await get(unit, `/api/unit/calls/${FAKE_CALL_ID}`)).status, 404);

    // A ringing offer shows up as an incoming call, and the caller's end stops it.
    const ringing = await asOther(unit, '/api/unit/calls', offer);
    t.deepEqual(ringing, { status: 200, body: { result: 'ringing' } });
    t.deepEqual(await asOther(unit, '/api/unit/calls', offer), { status: 200, body: { result: 'ringing' } }, 'a retried offer is idempotent');
    const incoming = await get(unit, '/api/signal/incoming?user=kitchen');
    t.is(incoming.body.calls.length, 1);
    t.like(incoming.body.calls[0], { id: FAKE_CALL_ID, phase: 'ringing', direction: 'incoming', caller: { user: 'Door', unitName: 'Other' } });
    const otherOffer = { ...offer, callId: '99999999-0000-4000-8000-000000000000' };
    t.deepEqual((await asOther(unit, '/api/unit/calls', otherOffer)).body, { result: 'busy' });
    t.deepEqual((await get(unit, `/api/unit/calls/${FAKE_CALL_ID}`, other.unit.unitId)).body, { callId: FAKE_CALL_ID, phase: 'ringing', endReason: null });
    t.deepEqual((await asOther(unit, `/api/unit/calls/${FAKE_CALL_ID}/end`, { reason: 'hung-up' })).body, {
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
      ...unit.unit.appDeps,
      peerAuth: {
        verify: (request) => {
          seen.push(`${request.method} ${request.url} ${request.rawBody}`);
          return request.headers['x-test-signature'] === 'good' ? { ok: true, unitId: 'aaaaaaaa-test-unit' } : { ok: false, reason: 'bad-signature', message: 'refused' };
        },
        signAnswer: () => ({}),
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
      'POST /api/door/open',
      'GET /api/health',
      'GET /api/events',
      'GET /api/openapi.json',
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
    // Every answer is listed (openapi-truth.test.ts checks them against real answers).
    t.deepEqual(Object.keys(initiate.responses).sort(), ['200', '400', '401', '403', '404', '409', '413', '415', '421', '500', '503']);
    t.deepEqual(Object.keys(body.paths['/api/door/open'].post.responses).sort(), ['200', '400', '401', '403', '404', '409', '413', '415', '421', '500', '503']);
  });
});


/** Two listening units, "Hall" (with `clock`) and "Door", with a user each: Door's user calls Hall's, Hall answers. */
async function activeCall(t: { teardown(fn: () => Promise<void>): void }, clock?: FakeClock) {
  const [hall, door] = await Promise.all([startUnit('Hall', { clock }), startUnit('Door')]);
  t.teardown(async () => {
    await Promise.all([hall.close(), door.close()]);
  });
  await api(hall, 'POST', '/api/users/register', { name: 'Kitchen' });
  await api(door, 'POST', '/api/users/register', { name: 'Front door' });
  await connectUnits(hall, door);
  const start = async () => {
    const initiated = await api(door, 'POST', '/api/signal/initiate', { from: 'Front door', to: 'Kitchen' });
    const callId = initiated.body.call.id as string;
    await waitForCall(hall, (call) => call.id === callId && call.phase === 'ringing');
    const accepted = await api(hall, 'POST', '/api/signal/accept', { callId });
    if (accepted.body.call?.phase !== 'active') throw new Error(`the call did not start: ${JSON.stringify(accepted)}`);
    await waitForCall(door, (call) => call.id === callId && call.phase === 'active');
    return callId;
  };
  return { hall, door, start };
}

test('GET /api/status reports the live figures: unit, version, uptime, audio, CPU, memory, temperature, and the live call with its stats', async (t) => {
  const clock = new FakeClock();
  const { hall, start } = await activeCall(t, clock);
  const status = async () => {
    const response = await hall.app.inject({ method: 'GET', url: '/api/status', headers: { ...hall.auth } });
    t.is(response.statusCode, 200);
    return response.json();
  };

  const idle = await status();
  t.like(idle, {
    unit: { id: hall.unit.unitId, name: 'Hall', version: '0.0.0-test' },
    uptimeS: 0,
    audio: { available: true, captureDevice: 'fake', playbackDevice: 'fake', error: null, encrypted: true },
    call: null,
    users: ['Kitchen'],
    peers: { known: 1, online: 1 },
  });
  // Memory is read at start; the CPU share needs two samples some real time apart: move the unit's
  // clock one sampling interval at a time until the sampler has both.
  let live = idle;
  for (let interval = 0; interval < 1000 && (live.system.cpuLoadPercent === null || live.system.memory === null); interval++) {
    await clock.advance(5000);
    live = await status();
  }
  const { system } = live;
  t.log(`system figures: ${JSON.stringify(system)}`);
  t.is(live.uptimeS, Math.floor(clock.now() / 1000), 'uptime follows the unit\'s clock');
  t.true(live.uptimeS >= 5);
  t.is(typeof system.cpuLoadPercent, 'number');
  t.true(system.cpuLoadPercent >= 0 && system.cpuLoadPercent <= 100, `cpu ${system.cpuLoadPercent}`);
  t.is(system.loadAverage.length, 3);
  for (const load of system.loadAverage) t.true(Number.isFinite(load) && load >= 0);
  t.true(Number.isFinite(system.memory.totalBytes) && system.memory.totalBytes > 0);
  t.true(Number.isFinite(system.memory.availableBytes) && system.memory.availableBytes > 0);
  t.true(system.memory.availableBytes <= system.memory.totalBytes);
  t.true(system.memory.usedPercent > 0 && system.memory.usedPercent < 100, `memory used ${system.memory.usedPercent} %`);
  // The SoC temperature, where the machine has a thermal zone; null where it has none (like this CI machine).
  const machineTemperature = await readThermalZone();
  if (machineTemperature === null) {
    t.log(`no readable thermal zone at ${THERMAL_ZONE_PATH}: temperatureC is null`);
    t.is(system.temperatureC, null);
  } else {
    t.is(typeof system.temperatureC, 'number');
    t.true(Math.abs(system.temperatureC - machineTemperature) < 15, `${system.temperatureC} °C vs ${machineTemperature} °C now`);
  }
  if (system.eventLoopDelayMs !== null) t.true(system.eventLoopDelayMs.p99 >= 0 && system.eventLoopDelayMs.max >= system.eventLoopDelayMs.p99);

  const callId = await start();
  const inCall = await status();
  t.like(inCall.call, { id: callId, phase: 'active', direction: 'incoming', caller: { user: 'Front door', unitName: 'Door' }, callee: { user: 'Kitchen', unitName: 'Hall' } });
  // The live statistics are the media engine's own, not stripped by the answer schema.
  t.deepEqual(inCall.call.stats, hall.media.stats(callId));
  t.is(inCall.call.stats.packetsReceived, 99);
  t.true(inCall.peers.online === 1 && inCall.system.memory.totalBytes > 0);
});

const GPIO: GpioConfig = { ...DEFAULT_GPIO_CONFIG, callButton: 5, answerButton: 6, ringLed: 13, doorRelay: 26, doorPulseMs: 1000 };
/** BCM 26 on a Pi 4 with a 6.6 kernel (chip base 512). */
const RELAY_SYSFS = 538;

/** A real GpioService on fake sysfs and ports for `unit`, and an app whose openDoor is wired as createUnit() wires it. */
async function withDoor(
  t: { teardown(fn: () => Promise<void>): void },
  unit: TestUnit,
  options: { config?: Partial<GpioConfig>; chips?: typeof BOARDS.pi4Kernel66 | null } = {},
) {
  const clock = new FakeClock();
  const ports = new FakeGpioPorts(clock);
  const sysfs = await fakeSysfs(options.chips === undefined ? BOARDS.pi4Kernel66 : options.chips);
  const gpio = new GpioService({
    config: { ...GPIO, ...options.config },
    calls: callControlForService(unit.unit.calls, () => unit.unit.users.list()[0]?.name),
    logger: pino({ level: 'silent' }),
    clock,
    sysfsRoot: sysfs.root,
    loadPorts: async () => ({ ok: true, ports }),
  });
  await gpio.start();
  const app = await buildApp({ ...unit.unit.appDeps, openDoor: () => gpio.pulseDoor() });
  t.teardown(async () => {
    await app.close();
    await gpio.stop();
    await sysfs.cleanup();
  });
  const open = async () => {
    const response = await app.inject({ method: 'POST', url: '/api/door/open', headers: { ...unit.auth } });
    return { status: response.statusCode, body: response.json() };
  };
  return { clock, ports, gpio, open };
}

test('POST /api/door/open during an active call pulses the relay for doorPulseMs: 200, then 409 while it is on', async (t) => {
  const { hall, start } = await activeCall(t);
  const door = await withDoor(t, hall);
  const relay = door.ports.output(RELAY_SYSFS);
  t.is(relay.level, 0, 'the relay rests released');
  await start();

  t.deepEqual(await door.open(), { status: 200, body: { ok: true, pulseMs: 1000 } });
  t.deepEqual(relay.writes, [{ at: 0, level: 1 }], 'the relay is energised at once');
  const again = await door.open();
  t.is(again.status, 409);
  t.is(again.body.error, 'already-open');
  await door.clock.advance(999);
  t.is(relay.level, 1);
  await door.clock.advance(1);
  t.deepEqual(relay.writes, [
    { at: 0, level: 1 },
    { at: 1000, level: 0 },
  ], 'released after exactly doorPulseMs, and pressing again did not lengthen the pulse');
  t.is((await door.open()).status, 200, 'the next opening is a new pulse');
  t.is(relay.level, 1);
});

test('POST /api/door/open refuses outside a call (409), without a relay (404), and without GPIO (404); the relay never moves', async (t) => {
  await withUnit(async (unit) => {
    const withRelay = await withDoor(t, unit);
    const relay = withRelay.ports.output(RELAY_SYSFS);
    const idle = await withRelay.open();
    t.is(idle.status, 409);
    t.is(idle.body.error, 'no-active-call');
    t.regex(idle.body.message, /only during an active call/);
    t.deepEqual(relay.writes, []);

    const noRelay = await withDoor(t, unit, { config: { doorRelay: null } });
    t.false(noRelay.ports.outputs.has(RELAY_SYSFS));
    const refused = await noRelay.open();
    t.is(refused.status, 404);
    t.is(refused.body.error, 'no-relay');

    const noGpio = await withDoor(t, unit, { chips: null });
    const unavailable = await noGpio.open();
    t.is(unavailable.status, 404);
    t.is(unavailable.body.error, 'gpio-unavailable');
    t.regex(unavailable.body.message, /GPIO is not available/);

    // A unit whose GPIO is off (the harness's own unit: gpio.enabled false).
    const none = await post(unit, '/api/door/open', {});
    t.is(none.status, 404);
    t.is(none.body.error, 'gpio-unavailable');
    t.deepEqual(relay.writes, [], 'no refused request touched the relay');
  });
});
