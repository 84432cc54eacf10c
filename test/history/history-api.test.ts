import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { api, connectUnits, startUnit, waitForCall, type TestUnit } from '../support/unit-harness.js';

// Call history end to end: two whole units (createUnit, as src/main.ts builds them; a media double
// instead of sound cards) call each other over real HTTP on loopback, and each unit's
// GET /api/history shows the calls as that unit saw them, also after the unit restarts on the same
// data directory, and never more than the last 200.

const RING_TIMEOUT_MS = 3000;

interface Pair {
  a: TestUnit;
  b: TestUnit;
  dirs: { a: string; b: string };
}

async function dataDir(t: { teardown(fn: () => Promise<void>): void }, name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `intercom-history-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts (or restarts, on its kept data dir) one unit of the pair. */
function start(name: 'A' | 'B', dir: string): Promise<TestUnit> {
  // Generous unit-to-unit timeouts: a machine shared with other builds must not turn a call into `unreachable`.
  return startUnit(name, { dataDir: dir, ringTimeoutMs: RING_TIMEOUT_MS, discovery: { pollIntervalMs: 1000, offlineAfterMs: 15_000, requestTimeoutMs: 10_000 } });
}

async function pair(t: { teardown(fn: () => Promise<void>): void }): Promise<Pair> {
  const dirs = { a: await dataDir(t, 'a'), b: await dataDir(t, 'b') };
  const a = await start('A', dirs.a);
  const b = await start('B', dirs.b);
  const site: Pair = { a, b, dirs };
  t.teardown(async () => {
    await site.a.close();
    await site.b.close();
  });
  for (const [unit, user] of [
    [a, 'Kitchen'],
    [b, 'Front door'],
  ] as const) {
    const registered = await api(unit, 'POST', '/api/users/register', { name: user });
    if (registered.status !== 201) throw new Error(`register ${user}: ${JSON.stringify(registered)}`);
  }
  await connectUnits(a, b);
  return site;
}

/** Places a call from A's Kitchen to B's Front door and waits until B rings. */
async function ring(from: TestUnit, to: TestUnit, caller: string, callee: string): Promise<string> {
  const initiated = await api(from, 'POST', '/api/signal/initiate', { from: caller, to: callee });
  if (initiated.status !== 200 || initiated.body.call.phase !== 'ringing') throw new Error(`initiate: ${JSON.stringify(initiated)}`);
  const callId: string = initiated.body.call.id;
  await waitForCall(to, (call) => call.id === callId && call.phase === 'ringing');
  return callId;
}

async function ended(units: TestUnit[], callId: string): Promise<void> {
  await Promise.all(units.map((unit) => waitForCall(unit, (call) => call.id === callId && call.phase === 'ended', RING_TIMEOUT_MS + 5000)));
}

async function historyOf(unit: TestUnit, query = ''): Promise<any> {
  const answer = await api(unit, 'GET', `/api/history${query}`);
  if (answer.status !== 200) throw new Error(`GET /api/history${query} on ${unit.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

test('each unit lists its calls as it saw them (answered, rejected, cancelled, rung out), missed ones marked, and keeps them over a restart', async (t) => {
  const site = await pair(t);
  const { a, b } = site;

  // 1. Answered, then hung up by the caller.
  const talked = await ring(a, b, 'Kitchen', 'Front door');
  t.is((await api(b, 'POST', '/api/signal/accept', { callId: talked })).body.call.phase, 'active');
  await waitForCall(a, (call) => call.id === talked && call.phase === 'active');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is((await api(a, 'POST', '/api/signal/end', { callId: talked })).status, 200);
  await ended([a, b], talked);
  // 2. Rejected at B.
  const rejected = await ring(a, b, 'Kitchen', 'Front door');
  await api(b, 'POST', '/api/signal/end', { callId: rejected });
  await ended([a, b], rejected);
  // 3. Cancelled by the caller while it rang: missed at B.
  const cancelled = await ring(a, b, 'Kitchen', 'Front door');
  await api(a, 'POST', '/api/signal/end', { callId: cancelled });
  await ended([a, b], cancelled);
  // 4. B calls A and nobody answers: rung out, missed at A.
  const rungOut = await ring(b, a, 'Front door', 'Kitchen');
  await ended([a, b], rungOut);

  const onA = await historyOf(a);
  const onB = await historyOf(b);
  t.deepEqual(
    onA.calls.map((call: any) => [call.id, call.direction, call.endReason, call.missed]),
    [
      [rungOut, 'incoming', 'ring-timeout', true],
      [cancelled, 'outgoing', 'hung-up', false],
      [rejected, 'outgoing', 'rejected', false],
      [talked, 'outgoing', 'hung-up', false],
    ],
  );
  t.deepEqual(
    onB.calls.map((call: any) => [call.id, call.direction, call.endReason, call.missed]),
    [
      [rungOut, 'outgoing', 'ring-timeout', false],
      [cancelled, 'incoming', 'hung-up', true],
      [rejected, 'incoming', 'rejected', false],
      [talked, 'incoming', 'hung-up', false],
    ],
  );
  t.like(onA, { total: 4, missed: 1, capacity: 200 });
  t.like(onB, { total: 4, missed: 1, capacity: 200 });

  // Who with whom, when, how long.
  const talkedOnB = onB.calls.find((call: any) => call.id === talked);
  t.like(talkedOnB, {
    caller: { user: 'Kitchen', unitId: a.unit.unitId, unitName: 'A' },
    callee: { user: 'Front door', unitId: b.unit.unitId, unitName: 'B' },
  });
  t.true(talkedOnB.talkMs >= 250, `talked ${talkedOnB.talkMs} ms`);
  t.true(Date.parse(talkedOnB.endedAt) >= Date.parse(talkedOnB.startedAt) + talkedOnB.talkMs);
  t.true(Math.abs(Date.now() - Date.parse(talkedOnB.startedAt)) < 60_000, 'wall-clock times');
  const rungOutOnA = onA.calls.find((call: any) => call.id === rungOut);
  t.is(rungOutOnA.talkMs, null);
  t.true(rungOutOnA.ringingMs >= RING_TIMEOUT_MS - 50 && rungOutOnA.ringingMs < RING_TIMEOUT_MS + 2000, `rang ${rungOutOnA.ringingMs} ms`);

  // The filters.
  t.deepEqual((await historyOf(a, '?missed=true')).calls.map((call: any) => call.id), [rungOut]);
  t.deepEqual((await historyOf(b, '?limit=2')).calls.map((call: any) => call.id), [rungOut, cancelled]);
  t.is((await api(a, 'GET', '/api/history?limit=0')).status, 400);
  t.is((await api(a, 'GET', '/api/history?missed=yes')).status, 400);
  // Behind the login like every other route.
  t.is((await fetch(`${a.baseUrl}/api/history`)).status, 401);
  t.is((await fetch(`${a.baseUrl}/api/history`, { method: 'DELETE', headers: { cookie: (a.auth as { cookie: string }).cookie } })).status, 403);

  // B restarts on its data directory: the same history.
  await b.close();
  site.b = await start('B', site.dirs.b);
  t.deepEqual(await historyOf(site.b), onB);

  // Clearing A's history is kept over a restart too.
  const cleared = await fetch(`${a.baseUrl}/api/history`, { method: 'DELETE', headers: { ...a.auth } });
  t.deepEqual(await cleared.json(), { cleared: 4 });
  await a.close();
  site.a = await start('A', site.dirs.a);
  t.like(await historyOf(site.a), { calls: [], total: 0, missed: 0 });
});

test('a unit keeps its last 200 calls, newest first, over a restart', async (t) => {
  const site = await pair(t);
  const { a, b } = site;
  const ids: string[] = [];
  for (let index = 0; index < 205; index++) {
    const callId = await ring(a, b, 'Kitchen', 'Front door');
    await api(a, 'POST', '/api/signal/end', { callId });
    await ended([a, b], callId);
    ids.push(callId);
  }
  const newestFirst = ids.slice(5).reverse();
  const onA = await historyOf(a);
  const onB = await historyOf(b);
  t.deepEqual(onA.calls.map((call: any) => call.id), newestFirst);
  t.deepEqual(onB.calls.map((call: any) => call.id), newestFirst);
  t.like(onB, { total: 200, missed: 200, capacity: 200 });
  t.like(onA, { total: 200, missed: 0 });

  await Promise.all([a.close(), b.close()]);
  [site.a, site.b] = await Promise.all([start('A', site.dirs.a), start('B', site.dirs.b)]);
  t.deepEqual((await historyOf(site.a)).calls.map((call: any) => call.id), newestFirst);
  t.deepEqual((await historyOf(site.b)).calls.map((call: any) => call.id), newestFirst);
  t.deepEqual((await historyOf(site.b, '?limit=3')).calls.map((call: any) => call.id), newestFirst.slice(0, 3));
});
