import test from 'ava';
import { startUnit, connectUnits, api, waitForCall } from '../support/unit-harness.js';

// Two (or three) complete units talking real HTTP on loopback, with the media engine replaced by a
// recording double. The test with real audio between two processes lives with the media side.


async function site(t: { teardown(fn: () => Promise<void>): void }, names: string[], options: Parameters<typeof startUnit>[1] = {}) {
  const units = await Promise.all(names.map((name) => startUnit(name, options)));
  t.teardown(async () => {
    await Promise.all(units.map((unit) => unit.close()));
  });
  for (const [index, unit] of units.entries()) {
    const response = await api(unit, 'POST', '/api/users/register', { name: `User${names[index]}` });
    if (response.status !== 201) throw new Error(`register failed: ${JSON.stringify(response)}`);
  }
  await connectUnits(...units);
  return units;
}

test('call, accept on the callee, media exchanged both ways, hang up from the callee: both idle', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  const directory = await api(a, 'GET', '/api/users');
  t.deepEqual(
    directory.body.users.map((user: { name: string; unitName: string; local: boolean; online: boolean }) => [user.name, user.unitName, user.local, user.online]),
    [
      ['UserA', 'A', true, true],
      ['UserB', 'B', false, true],
    ],
  );

  const initiated = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.is(initiated.status, 200);
  const callId = initiated.body.call.id;
  t.like(initiated.body.call, { phase: 'ringing', direction: 'outgoing', caller: { user: 'UserA', unitName: 'A' }, callee: { user: 'UserB', unitName: 'B' } });

  const incoming = await api(b, 'GET', '/api/signal/incoming?user=UserB');
  t.is(incoming.body.calls.length, 1);
  t.like(incoming.body.calls[0], { id: callId, phase: 'ringing', direction: 'incoming' });
  t.deepEqual((await api(a, 'GET', '/api/signal/incoming?user=UserA')).body.calls, [], 'the caller is not rung');

  const accepted = await api(b, 'POST', '/api/signal/accept', { callId });
  t.is(accepted.status, 200);
  t.is(accepted.body.call.phase, 'active');
  const activeOnA = await waitForCall(a, (call) => call.id === callId && call.phase === 'active');
  t.truthy(activeOnA.stats, 'the active call carries live stats');

  // Each side sends to the other's port and SSRC, at the address the other answers its signaling at,
  // and receives under the SRTP keys the other made for its sending (they crossed sealed).
  const keysOf = (unit: typeof a) => unit.media.preparedFor(callId)!.crypto;
  t.truthy(keysOf(a)?.keyParams);
  t.deepEqual(a.media.started.get(callId), { address: '127.0.0.1', udpPort: b.media.udpPort, format: 'rtp-opus', ssrc: b.media.ssrc, frameMs: 20, crypto: keysOf(b) });
  t.deepEqual(b.media.started.get(callId), { address: '127.0.0.1', udpPort: a.media.udpPort, format: 'rtp-opus', ssrc: a.media.ssrc, frameMs: 20, crypto: keysOf(a) });

  const calls = await api(a, 'GET', '/api/calls');
  t.is(calls.body.current.id, callId);
  t.is(calls.body.current.stats.packetsReceived, 99);
  await b.unit.directory.refresh();
  t.true((await api(b, 'GET', '/api/peers')).body.peers[0].inCall, 'peers see that A is in a call');

  const ended = await api(b, 'POST', '/api/signal/end', { callId });
  t.like(ended.body.call, { phase: 'ended', endReason: 'hung-up' });
  const endedOnA = await waitForCall(a, (call) => call.id === callId && call.phase === 'ended');
  t.is(endedOnA.endReason, 'hung-up');
  t.deepEqual(a.media.log, [`prepare ${callId}`, `start ${callId}`, `stop ${callId}`]);
  t.deepEqual(b.media.log, [`prepare ${callId}`, `start ${callId}`, `stop ${callId}`]);
  t.is((await api(a, 'GET', '/api/calls')).body.current, null);
  t.is((await api(b, 'GET', '/api/calls')).body.current, null);

  // The devices stay usable: a second call works the same way.
  const again = await api(b, 'POST', '/api/signal/initiate', { from: 'UserB', to: 'UserA' });
  await api(a, 'POST', '/api/signal/accept', { callId: again.body.call.id });
  await waitForCall(b, (call) => call.id === again.body.call.id && call.phase === 'active');
  await api(a, 'POST', '/api/signal/end', { callId: again.body.call.id });
  t.is((await waitForCall(b, (call) => call.id === again.body.call.id && call.phase === 'ended')).endReason, 'hung-up');
});

test('the callee rejects: both sides end with rejected, no media started', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  const rejected = await api(b, 'POST', '/api/signal/end', { callId: body.call.id });
  t.like(rejected.body.call, { phase: 'ended', endReason: 'rejected' });
  t.is((await waitForCall(a, (call) => call.id === body.call.id && call.phase === 'ended')).endReason, 'rejected');
  t.deepEqual(a.media.log, []);
  t.deepEqual(b.media.log, []);
});

test('the caller cancels while ringing: the callee stops ringing (hung-up)', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await api(a, 'POST', '/api/signal/end', { callId: body.call.id });
  t.is((await waitForCall(b, (call) => call.id === body.call.id && call.phase === 'ended')).endReason, 'hung-up');
  t.deepEqual((await api(b, 'GET', '/api/signal/incoming?user=UserB')).body.calls, []);
});

test('a unit already in a call answers busy; the caller is told at once', async (t) => {
  const [a, b, c] = await site(t, ['A', 'B', 'C']);
  const first = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await api(b, 'POST', '/api/signal/accept', { callId: first.body.call.id });
  const third = await api(c, 'POST', '/api/signal/initiate', { from: 'UserC', to: 'UserB' });
  t.is(third.status, 200);
  t.like(third.body.call, { phase: 'ended', endReason: 'busy' });
  const alsoBusy = await api(c, 'POST', '/api/signal/initiate', { from: 'UserC', to: 'UserA' });
  t.like(alsoBusy.body.call, { phase: 'ended', endReason: 'busy' });
  // And a unit in a call cannot place another one.
  const local = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserC' });
  t.is(local.status, 409);
  t.is(local.body.error, 'busy');
  t.is((await api(b, 'GET', '/api/calls')).body.current.id, first.body.call.id, 'the first call is untouched');
  t.deepEqual(c.media.log, []);
});

test('nobody answers: the call ends with ring-timeout on both units', async (t) => {
  const [a, b] = await site(t, ['A', 'B'], { ringTimeoutMs: 1000 });
  const started = Date.now();
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  const [onA, onB] = await Promise.all([
    waitForCall(a, (call) => call.id === body.call.id && call.phase === 'ended'),
    waitForCall(b, (call) => call.id === body.call.id && call.phase === 'ended'),
  ]);
  t.is(onA.endReason, 'ring-timeout');
  t.is(onB.endReason, 'ring-timeout');
  const elapsed = Date.now() - started;
  t.true(elapsed >= 900 && elapsed < 3000, `ended after ${elapsed} ms`);
});

test('unknown users: 404 with a reason, nothing rings', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  const response = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'Nobody' });
  t.is(response.status, 404);
  t.is(response.body.error, 'unknown-user');
  // A directory that is stale (the user left B a moment ago) is caught by B itself.
  await b.unit.users.remove('UserB');
  const stale = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.is(stale.status, 404);
  t.is(stale.body.error, 'unknown-user');
  t.is((await api(a, 'GET', '/api/calls')).body.current, null);
  t.is((await api(b, 'GET', '/api/calls')).body.current, null);
});

test('names are unique across the site', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  const taken = await api(b, 'POST', '/api/users/register', { name: 'usera' });
  t.is(taken.status, 409);
  t.is(taken.body.error, 'name-taken');
  t.regex(taken.body.message, /unit "A"/);
  t.deepEqual(b.unit.users.list().map((user) => user.name), ['UserB']);
  // A user registered on B shows up in A's directory at the next poll.
  await api(b, 'POST', '/api/users/register', { name: 'Garden' });
  await a.unit.directory.refresh();
  t.like((await api(a, 'GET', '/api/users')).body.users.find((user: { name: string }) => user.name === 'Garden'), { unitName: 'B', local: false });
});

test('calling a unit that has gone away: the peer shows offline and the call ends unreachable', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  await b.app.close();
  // Polled every 200 ms, offline after 1 s without an answer.
  await new Promise<void>((resolve) => {
    const check = () => (a.unit.directory.peers()[0]?.online === false ? resolve() : setTimeout(check, 50));
    check();
  });
  t.false((await api(a, 'GET', '/api/peers')).body.peers[0].online);
  t.false((await api(a, 'GET', '/api/users')).body.users.find((user: { name: string }) => user.name === 'UserB').online);
  const response = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  t.like(response.body.call, { phase: 'ended', endReason: 'unreachable' });
});

test('the callee vanishes mid-call: the caller ends with peer-lost', async (t) => {
  const [a, b] = await site(t, ['A', 'B'], { peerLostMs: 1000 });
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await api(b, 'POST', '/api/signal/accept', { callId: body.call.id });
  await waitForCall(a, (call) => call.id === body.call.id && call.phase === 'active');
  // B's process dies: its HTTP API stops answering and no more audio arrives at A.
  b.unit.directory.stop();
  await b.app.close();
  a.media.msSinceLastPacket = 5000;
  const ended = await waitForCall(a, (call) => call.id === body.call.id && call.phase === 'ended', 6000);
  t.is(ended.endReason, 'peer-lost');
  t.true(a.media.log.includes(`stop ${body.call.id}`));
});

test('while audio flows, a quiet signaling channel does not end the call', async (t) => {
  const [a, b] = await site(t, ['A', 'B'], { peerLostMs: 1000 });
  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' });
  await api(b, 'POST', '/api/signal/accept', { callId: body.call.id });
  a.unit.directory.stop();
  b.unit.directory.stop();
  a.media.msSinceLastPacket = 20;
  await new Promise((resolve) => setTimeout(resolve, 2500));
  t.is(a.unit.calls.current()?.phase, 'active');
});

test('both units call each other at the same moment: one call, active on both', async (t) => {
  const [a, b] = await site(t, ['A', 'B']);
  const [fromA, fromB] = await Promise.all([
    api(a, 'POST', '/api/signal/initiate', { from: 'UserA', to: 'UserB' }),
    api(b, 'POST', '/api/signal/initiate', { from: 'UserB', to: 'UserA' }),
  ]);
  t.is(fromA.status, 200);
  t.is(fromB.status, 200);
  const onA = await waitForCall(a, (call) => call.phase === 'active');
  const onB = await waitForCall(b, (call) => call.phase === 'active');
  t.is(onA.id, onB.id, 'both units are in the same call');
  t.is(a.media.started.size, 1);
  t.is(b.media.started.size, 1);
  t.true(a.media.started.has(onA.id) && b.media.started.has(onA.id));
  t.is(a.unit.calls.list().filter((call) => call.phase !== 'ended').length, 1);
  t.is(b.unit.calls.list().filter((call) => call.phase !== 'ended').length, 1);
});
