import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DoNotDisturb } from '../../src/calls/do-not-disturb.js';
import type { CallSnapshot } from '../../src/calls/call-service.js';
import { api, connectUnits, startUnit, waitForCall, type TestUnit } from '../support/unit-harness.js';

// Do-not-disturb: a per-unit switch, stored atomically in the data directory, behind a logged-in
// API route, shown in /api/status; while on, a call to the unit is answered busy on both sides.

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-dnd-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the switch survives a restart, the last of concurrent changes wins on disk, and no temp file is left', async (t) => {
  const dir = await tempDir(t);
  const dnd = new DoNotDisturb(dir, undefined, () => new Date('2026-12-06T10:00:00Z'));
  await dnd.load();
  t.like(dnd.status(), { enabled: false, changedAt: null, changedBy: null, refusedCalls: 0 });
  const changes: boolean[] = [];
  dnd.on('changed', (status) => changes.push(status.enabled));
  await Promise.all([dnd.set(true, 'api'), dnd.set(false, 'mqtt'), dnd.set(true, 'mqtt')]);
  t.deepEqual(changes, [true, false, true], 'each change announced, in order');
  t.like(dnd.status(), { enabled: true, changedAt: '2026-12-06T10:00:00.000Z', changedBy: 'mqtt' });

  const reloaded = new DoNotDisturb(dir);
  await reloaded.load();
  t.like(reloaded.status(), { enabled: true, changedBy: 'mqtt' });
  t.deepEqual(await readdir(dir), ['do-not-disturb.json']);
  // Setting what is already set writes nothing and announces nothing.
  await dnd.set(true, 'api');
  t.deepEqual(changes, [true, false, true]);
});

test('a corrupt file is kept aside and the unit starts with do-not-disturb off', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'do-not-disturb.json'), '{"version":1,"enabled":"yes"');
  const dnd = new DoNotDisturb(dir);
  await dnd.load();
  t.false(dnd.enabled);
  const kept = (await readdir(dir)).filter((name) => name.startsWith('do-not-disturb.json.corrupt-'));
  t.is(kept.length, 1);
  await dnd.set(true, 'api');
  t.true(JSON.parse(await readFile(path.join(dir, 'do-not-disturb.json'), 'utf8')).enabled);
});

test('a write the file system refuses leaves the state as it was and says why', async (t) => {
  const dir = await tempDir(t);
  const dnd = new DoNotDisturb(dir);
  await dnd.load();
  // A directory where the file belongs: the rename that completes the write fails, as on a broken disk (even as root).
  await mkdir(path.join(dir, 'do-not-disturb.json'));
  await t.throwsAsync(dnd.set(true, 'api'), { code: 'EISDIR' });
  t.false(dnd.enabled);
  t.deepEqual(await readdir(dir), ['do-not-disturb.json'], 'the temp file is gone');
});

async function site(t: { teardown(fn: () => Promise<void>): void }, dataDirB?: string): Promise<[TestUnit, TestUnit]> {
  const [a, b] = await Promise.all([startUnit('A'), startUnit('B', { dataDir: dataDirB })]);
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()]);
  });
  for (const [unit, user] of [[a, 'UserA'], [b, 'UserB']] as const) {
    if (!unit.unit.users.get(user)) await api(unit, 'POST', '/api/users/register', { name: user });
  }
  await connectUnits(a, b);
  return [a, b];
}

test('with do-not-disturb on, a call is answered busy: the caller ends busy, the callee never rings and keeps it as ended busy', async (t) => {
  const dataDirB = await tempDir(t);
  const [a, b] = await site(t, dataDirB);

  t.like((await api(b, 'GET', '/api/do-not-disturb')).body, { enabled: false });
  // People only: without the session the switch does not move.
  const stranger = await fetch(`${b.baseUrl}/api/do-not-disturb`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"enabled":true}' });
  t.is(stranger.status, 401);
  t.is((await api(b, 'PUT', '/api/do-not-disturb', { enabled: 'yes' })).status, 400);
  const switched = await api(b, 'PUT', '/api/do-not-disturb', { enabled: true });
  t.is(switched.status, 200);
  t.like(switched.body, { enabled: true, changedBy: 'api' });

  const seenOnB: CallSnapshot[] = [];
  b.unit.calls.on('call', (call) => seenOnB.push(call));
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.is(initiated.status, 200);
  t.like(initiated.body.call, { phase: 'ended', endReason: 'busy' }, 'the caller hears busy at once');
  const onB = await waitForCall(b, (call) => call.id === initiated.body.call.id);
  t.like(onB, { direction: 'incoming', phase: 'ended', endReason: 'busy', caller: { user: 'UserA' }, callee: { user: 'UserB' } });
  t.deepEqual(seenOnB.map((call) => call.phase), ['ended'], 'B never rang');
  t.is(b.media.log.length, 0, 'no audio was prepared on B');
  t.deepEqual((await api(b, 'GET', '/api/signal/incoming?user=UserB')).body.calls, []);

  const status = (await api(b, 'GET', '/api/status')).body;
  t.like(status.doNotDisturb, { enabled: true, changedBy: 'api', refusedCalls: 1 });
  t.is(status.call, null);

  // B can still call out while do-not-disturb is on; it only keeps calls from ringing here.
  const outgoing = await api(b, 'POST', '/api/signal/initiate', { from: 'UserB', to: 'UserA' });
  t.is(outgoing.body.call.phase, 'ringing');
  await api(b, 'POST', '/api/signal/end', { callId: outgoing.body.call.id });
  await waitForCall(a, (call) => call.id === outgoing.body.call.id && call.phase === 'ended');
});

test('do-not-disturb stays on across a restart of the unit, and off again lets calls ring', async (t) => {
  const dataDirB = await tempDir(t);
  const first = await startUnit('B', { dataDir: dataDirB });
  await api(first, 'PUT', '/api/do-not-disturb', { enabled: true });
  await first.close();

  const [a, b] = await site(t, dataDirB);
  t.like((await api(b, 'GET', '/api/status')).body.doNotDisturb, { enabled: true, refusedCalls: 0 });
  t.like((await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' })).body.call, { endReason: 'busy' });

  t.like((await api(b, 'PUT', '/api/do-not-disturb', { enabled: false })).body, { enabled: false });
  const ringing = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.is(ringing.body.call.phase, 'ringing');
  await waitForCall(b, (call) => call.id === ringing.body.call.id && call.phase === 'ringing');
  await api(b, 'POST', '/api/signal/end', { callId: ringing.body.call.id });
});
