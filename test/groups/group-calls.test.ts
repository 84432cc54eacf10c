import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { api, connectUnits, startUnit, waitForCall, type TestUnit, type TestUnitOptions } from '../support/unit-harness.js';
import type { Group } from '../../src/groups/group-store.js';
import type { CallSnapshot } from '../../src/calls/call-service.js';

// Call groups end to end: whole units in this process talking real HTTP on loopback, signed as
// units of one site. A group defined on any unit reaches every unit (also one that was off, or
// joins later); calling it rings every member's unit; the first to answer gets the call and the
// others stop ringing, quietly, with answered-elsewhere.

async function site(t: { teardown(fn: () => Promise<void>): void }, names: string[], options: TestUnitOptions = {}): Promise<TestUnit[]> {
  const units = await Promise.all(names.map((name) => startUnit(name, options)));
  t.teardown(async () => {
    await Promise.all(units.map((unit) => unit.close()));
  });
  for (const unit of units) {
    const registered = await api(unit, 'POST', '/api/users/register', { name: `User${unit.name}` });
    if (registered.status !== 201) throw new Error(`register on ${unit.name}: ${JSON.stringify(registered)}`);
  }
  await connectUnits(...units);
  return units;
}

/** Resolves once `unit`'s groups satisfy `match` (now or after a change arrives). */
function waitForGroups(unit: TestUnit, match: (groups: Group[]) => boolean, timeoutMs = 5000): Promise<Group[]> {
  const store = unit.unit.groups;
  if (match(store.list())) return Promise.resolve(store.list());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      store.off('changed', onChange);
      reject(new Error(`${unit.name}: groups not as expected within ${timeoutMs} ms: ${JSON.stringify(store.list())}`));
    }, timeoutMs);
    const onChange = () => {
      if (!match(store.list())) return;
      clearTimeout(timer);
      store.off('changed', onChange);
      resolve(store.list());
    };
    store.on('changed', onChange);
  });
}

const membersOf = (groups: Group[], name: string) => groups.find((group) => group.name === name)?.members ?? null;

async function defineGroup(unit: TestUnit, name: string, members: string[]): Promise<void> {
  const put = await api(unit, 'PUT', `/api/groups/${encodeURIComponent(name)}`, { members });
  if (put.status !== 200) throw new Error(`PUT group on ${unit.name}: ${JSON.stringify(put)}`);
}

/** Root-mean-square of what the speaker plays next (two seconds). */
function loudness(unit: TestUnit): number {
  const samples = unit.speaker.pull(100);
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return Math.sqrt(sum / samples.length);
}

test('a group defined on one unit is seen on every unit, also one that was off when it changed and one that joins later', async (t) => {
  const dataDirC = await mkdtemp(path.join(os.tmpdir(), 'intercom-groups-C-'));
  t.teardown(() => rm(dataDirC, { recursive: true, force: true }));
  const [a, b] = await site(t, ['A', 'B']);
  let c = await startUnit('C', { dataDir: dataDirC });
  t.teardown(() => c.close());
  await api(c, 'POST', '/api/users/register', { name: 'UserC' });
  await connectUnits(a, b, c);

  await defineGroup(b, 'Reception', ['UserA', 'UserC']);
  for (const unit of [a, b, c]) {
    const groups = await waitForGroups(unit, (list) => membersOf(list, 'Reception') !== null);
    t.deepEqual(membersOf(groups, 'Reception'), ['UserA', 'UserC'], `${unit.name} knows the group`);
  }
  const listed = await api(a, 'GET', '/api/groups');
  t.is(listed.status, 200);
  t.like(listed.body.groups[0], { name: 'Reception', members: ['UserA', 'UserC'], updatedBy: b.unit.unitId });

  // C is off while the group changes on A and a second group is made on B; it stored what it had.
  await c.close();
  await defineGroup(a, 'Reception', ['UserA', 'UserB', 'UserC']);
  await defineGroup(b, 'All flats', ['UserA', 'UserB', 'UserC']);
  t.is((await api(b, 'DELETE', '/api/groups/All%20flats')).status, 200);
  await defineGroup(b, 'Caretaker', ['UserB']);
  c = await startUnit('C', { dataDir: dataDirC });
  t.deepEqual(membersOf(c.unit.groups.list(), 'Reception'), ['UserA', 'UserC'], 'C kept the version it had on disk');
  await connectUnits(a, b, c);
  const caughtUp = await waitForGroups(c, (list) => membersOf(list, 'Reception')?.length === 3 && membersOf(list, 'Caretaker') !== null);
  t.deepEqual(caughtUp.map((group) => group.name), ['Caretaker', 'Reception'], 'the deleted group stays deleted on C');

  // A unit that joins the site later learns every group as soon as it sees one unit.
  const d = await startUnit('D');
  t.teardown(() => d.close());
  t.deepEqual(d.unit.groups.list(), []);
  await connectUnits(a, b, c, d);
  const onD = await waitForGroups(d, (list) => list.length === 2);
  t.deepEqual(onD.map((group) => [group.name, group.members]), [
    ['Caretaker', ['UserB']],
    ['Reception', ['UserA', 'UserB', 'UserC']],
  ]);
  // A change on the newcomer spreads back to all.
  t.is((await api(d, 'DELETE', '/api/groups/Caretaker')).status, 200);
  for (const unit of [a, b, c, d]) await waitForGroups(unit, (list) => list.length === 1);
  t.pass();
});

test('the group routes refuse what is not a group: a user name, no members, an unknown group', async (t) => {
  const [a] = await site(t, ['A', 'B']);
  const taken = await api(a, 'PUT', '/api/groups/UserB', { members: ['UserA'] });
  t.is(taken.status, 409);
  t.is(taken.body.error, 'name-taken');
  t.is((await api(a, 'PUT', '/api/groups/Reception', { members: [] })).status, 400);
  t.is((await api(a, 'PUT', '/api/groups/Reception', { members: ['<script>'] })).status, 400);
  const unknown = await api(a, 'DELETE', '/api/groups/Nobody');
  t.is(unknown.status, 404);
  t.is(unknown.body.error, 'unknown-group');
  t.deepEqual((await api(a, 'GET', '/api/groups')).body.groups, []);
  const nobody = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Nobody' });
  t.is(nobody.status, 404);
});

test('calling a group rings every member at once; the first to answer gets the call, the others stop with answered-elsewhere and go quiet', async (t) => {
  const [a, b, c, d] = await site(t, ['A', 'B', 'C', 'D']);
  await defineGroup(b, 'All flats', ['UserB', 'UserC', 'UserD']);
  await waitForGroups(a, (list) => list.length === 1);
  // What a member unit's panel and LED hear first: the ringing call must already say it is the group's.
  const firstHeard = new Map<string, CallSnapshot>();
  for (const unit of [b, c, d]) {
    const onCall = (call: CallSnapshot) => {
      firstHeard.set(unit.name, call);
      unit.unit.calls.off('call', onCall);
    };
    unit.unit.calls.on('call', onCall);
  }

  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'All flats' });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  const callId = initiated.body.call.id as string;
  t.like(initiated.body.call, { phase: 'ringing', direction: 'outgoing', group: 'All flats', callee: { user: 'All flats', unitId: '' } });
  for (const unit of [b, c, d]) {
    await waitForCall(unit, (call) => call.id === callId);
    t.like(firstHeard.get(unit.name), { id: callId, phase: 'ringing', group: 'All flats' }, `${unit.name}'s first word of the call names the group`);
    const ringing = await waitForCall(unit, (call) => call.id === callId && call.phase === 'ringing');
    t.like(ringing, { direction: 'incoming', group: 'All flats', caller: { user: 'UserA', unitName: 'A' }, callee: { user: `User${unit.name}` } });
    t.true(loudness(unit) > 1000, `${unit.name} rings`);
  }

  t.is((await api(c, 'POST', '/api/signal/accept', { callId })).status, 200);
  const active = await waitForCall(a, (call) => call.id === callId && call.phase === 'active');
  t.like(active, { group: 'All flats', callee: { user: 'UserC', unitId: c.unit.unitId, unitName: 'C' } });
  t.deepEqual(a.media.started.get(callId)?.udpPort, c.media.udpPort, "the caller's audio goes to the unit that answered");
  for (const unit of [b, d]) {
    const ended = await waitForCall(unit, (call) => call.id === callId && call.phase === 'ended');
    t.is(ended.endReason, 'answered-elsewhere', `${unit.name} stops ringing`);
    unit.speaker.pull(1); // the fade-out frame
    t.is(loudness(unit), 0, `${unit.name} goes quiet: no chime`);
    t.false(unit.speaker.playing);
    t.deepEqual(unit.media.log, [], `${unit.name} never opened audio`);
    const history = await api(unit, 'GET', '/api/history');
    t.like(history.body.calls[0], { id: callId, endReason: 'answered-elsewhere', missed: false, group: 'All flats' });
  }
  // A late accept on a unit that stopped ringing is refused: the call has ended there.
  const late = await api(b, 'POST', '/api/signal/accept', { callId });
  t.is(late.status, 409);

  t.is((await api(c, 'POST', '/api/signal/end', { callId })).status, 200);
  t.is((await waitForCall(a, (call) => call.id === callId && call.phase === 'ended')).endReason, 'hung-up');
  const history = await api(a, 'GET', '/api/history');
  t.like(history.body.calls[0], { id: callId, direction: 'outgoing', group: 'All flats', callee: { user: 'UserC', unitName: 'C' }, endReason: 'hung-up' });
});

test('nobody answers a group call: it ends ring-timeout on the caller and every member', async (t) => {
  const [a, b, c] = await site(t, ['A', 'B', 'C'], { ringTimeoutMs: 1500 });
  await defineGroup(a, 'Reception', ['UserB', 'UserC']);
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Reception' });
  const callId = initiated.body.call.id as string;
  for (const unit of [b, c]) await waitForCall(unit, (call) => call.id === callId && call.phase === 'ringing');
  for (const unit of [a, b, c]) {
    const ended = await waitForCall(unit, (call) => call.id === callId && call.phase === 'ended');
    t.is(ended.endReason, 'ring-timeout', unit.name);
  }
  const missed = await api(b, 'GET', '/api/history?missed=true');
  t.is(missed.body.calls[0]?.id, callId, 'a group call nobody answered is missed on each member');
});

test('a member busy in a call does not ring, the others do; all busy: the group call ends busy', async (t) => {
  const [a, b, c, d] = await site(t, ['A', 'B', 'C', 'D']);
  await defineGroup(c, 'Reception', ['UserB', 'UserC']);
  await waitForGroups(a, (list) => list.length === 1);
  // B talks to D.
  const talk = await api(d, 'POST', '/api/signal/initiate', { from: 'UserD', to: 'UserB' });
  await api(b, 'POST', '/api/signal/accept', { callId: talk.body.call.id });
  await waitForCall(d, (call) => call.id === talk.body.call.id && call.phase === 'active');

  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Reception' });
  t.is(initiated.body.call.phase, 'ringing');
  const callId = initiated.body.call.id as string;
  await waitForCall(c, (call) => call.id === callId && call.phase === 'ringing');
  t.is(b.unit.calls.current()?.id, talk.body.call.id, "B's own call goes on");
  t.is((await api(c, 'POST', '/api/signal/accept', { callId })).status, 200);
  t.like(await waitForCall(a, (call) => call.id === callId && call.phase === 'active'), { callee: { user: 'UserC' } });
  await api(a, 'POST', '/api/signal/end', { callId });
  await waitForCall(c, (call) => call.id === callId && call.phase === 'ended');

  // C in do-not-disturb, B still talking: nobody can ring.
  t.is((await api(c, 'PUT', '/api/do-not-disturb', { enabled: true })).status, 200);
  const allBusy = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Reception' });
  t.is(allBusy.status, 200);
  t.like(allBusy.body.call, { phase: 'ended', endReason: 'busy', group: 'Reception' });
});

test('one member refusing leaves the others ringing; all refusing ends the call rejected', async (t) => {
  const [a, b, c] = await site(t, ['A', 'B', 'C']);
  await defineGroup(a, 'Reception', ['UserB', 'UserC']);
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Reception' });
  const callId = initiated.body.call.id as string;
  for (const unit of [b, c]) await waitForCall(unit, (call) => call.id === callId && call.phase === 'ringing');
  await api(b, 'POST', '/api/signal/end', { callId });
  t.is((await waitForCall(b, (call) => call.id === callId && call.phase === 'ended')).endReason, 'rejected');
  // The caller has heard B's refusal once its state says so; C still rings and the call is live.
  const state = await api(a, 'GET', '/api/calls');
  t.is(state.body.current?.id, callId);
  t.is(c.unit.calls.current()?.phase, 'ringing');
  await api(c, 'POST', '/api/signal/end', { callId });
  t.is((await waitForCall(a, (call) => call.id === callId && call.phase === 'ended')).endReason, 'rejected');
});

test("members on the caller's own unit are not rung; a group only of them is refused", async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  t.is((await api(a, 'POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  await defineGroup(a, 'Household', ['UserA', 'Kitchen']);
  const same = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Household' });
  t.is(same.status, 409);
  t.is(same.body.error, 'same-unit');

  await defineGroup(a, 'Everyone', ['UserA', 'Kitchen', 'UserB']);
  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Everyone' });
  t.is(initiated.body.call.phase, 'ringing');
  await waitForCall(b, (call) => call.id === initiated.body.call.id && call.phase === 'ringing');
  t.is((await api(b, 'POST', '/api/signal/accept', { callId: initiated.body.call.id })).status, 200);
  t.like(await waitForCall(a, (call) => call.id === initiated.body.call.id && call.phase === 'active'), { callee: { user: 'UserB' } });
});
