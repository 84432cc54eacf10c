import test from 'ava';
import {
  answer,
  decideOffer,
  decideOutgoing,
  end,
  glareWinner,
  localHangUpReason,
  newCall,
  peerIsLost,
  ringExpired,
  type Call,
} from '../../src/calls/call-state.js';

const A = { user: 'Kitchen', unitId: 'aaaaaaaa-1' };
const B = { user: 'Door', unitId: 'bbbbbbbb-1' };
const C = { user: 'Garage', unitId: 'cccccccc-1' };

function outgoing(id = 'call-0001', callee = B): Call {
  return newCall({ id, direction: 'outgoing', caller: A, callee, now: 1000 });
}

test('ringing -> active -> ended(hung-up), with times', (t) => {
  const ringing = outgoing();
  t.is(ringing.phase, 'ringing');
  const active = answer(ringing, 1500);
  t.true(active.ok && active.changed);
  if (!active.ok) return;
  t.like(active.call, { phase: 'active', answeredAt: 1500, endReason: null });
  const ended = end(active.call, 'hung-up', 4000);
  t.true(ended.ok && ended.changed);
  if (!ended.ok) return;
  t.like(ended.call, { phase: 'ended', endReason: 'hung-up', endedAt: 4000 });
  t.is(ringing.phase, 'ringing', 'transitions do not mutate their input');
});

test('every end reason ends a ringing call; ring-timeout only a ringing one', (t) => {
  for (const reason of ['hung-up', 'rejected', 'busy', 'ring-timeout', 'unreachable', 'peer-lost'] as const) {
    const result = end(outgoing(), reason, 2000);
    t.true(result.ok, reason);
    if (result.ok) t.is(result.call.endReason, reason);
  }
  const active = answer(outgoing(), 1100);
  if (!active.ok) return t.fail();
  t.false(end(active.call, 'ring-timeout', 2000).ok);
  for (const reason of ['hung-up', 'peer-lost', 'unreachable'] as const) t.true(end(active.call, reason, 2000).ok);
});

test('ended is terminal: the first reason stays, answering fails', (t) => {
  const ended = end(outgoing(), 'rejected', 2000);
  if (!ended.ok) return t.fail();
  const again = end(ended.call, 'hung-up', 3000);
  t.true(again.ok);
  if (again.ok) {
    t.false(again.changed);
    t.is(again.call.endReason, 'rejected');
  }
  const answered = answer(ended.call, 3000);
  t.false(answered.ok);
  if (!answered.ok) t.regex(answered.problem, /ended \(rejected\)/);
});

test('answering an active call again changes nothing', (t) => {
  const active = answer(outgoing(), 1100);
  if (!active.ok) return t.fail();
  const again = answer(active.call, 5000);
  t.true(again.ok);
  if (again.ok) {
    t.false(again.changed);
    t.is(again.call.answeredAt, 1100);
  }
});

test('hanging up a ringing incoming call is a rejection; anything else is hung-up', (t) => {
  const incoming = newCall({ id: 'call-0002', direction: 'incoming', caller: B, callee: A, now: 0 });
  t.is(localHangUpReason(incoming), 'rejected');
  t.is(localHangUpReason(outgoing()), 'hung-up');
  const active = answer(incoming, 10);
  if (active.ok) t.is(localHangUpReason(active.call), 'hung-up');
});

test('placing a call: free unit starts, a unit in a call is busy, calling back a ringing caller answers', (t) => {
  t.deepEqual(decideOutgoing(null, { caller: A, callee: B }), { kind: 'start' });
  const ended = end(outgoing(), 'hung-up', 5);
  if (ended.ok) t.deepEqual(decideOutgoing(ended.call, { caller: A, callee: C }), { kind: 'start' });
  t.deepEqual(decideOutgoing(outgoing(), { caller: A, callee: C }), { kind: 'busy', liveCallId: 'call-0001' });
  const ringingHere = newCall({ id: 'call-0003', direction: 'incoming', caller: B, callee: A, now: 0 });
  t.deepEqual(decideOutgoing(ringingHere, { caller: A, callee: B }), { kind: 'answer-existing', callId: 'call-0003' });
  t.deepEqual(decideOutgoing(ringingHere, { caller: A, callee: C }), { kind: 'busy', liveCallId: 'call-0003' });
  const activeHere = answer(ringingHere, 1);
  if (activeHere.ok) t.is(decideOutgoing(activeHere.call, { caller: A, callee: B }).kind, 'busy');
});

test('offers: ring when free, busy when in another call, idempotent for a retried offer', (t) => {
  const offer = { callId: 'call-0100', caller: B, callee: A };
  t.deepEqual(decideOffer(null, offer), { kind: 'ring' });
  const live = newCall({ id: 'call-0100', direction: 'incoming', caller: B, callee: A, now: 0 });
  t.is(decideOffer(live, offer).kind, 'duplicate');
  t.deepEqual(decideOffer(outgoing('call-0001', C), offer), { kind: 'busy', liveCallId: 'call-0001' });
  const active = answer(outgoing('call-0001', B), 5);
  if (active.ok) t.deepEqual(decideOffer(active.call, offer), { kind: 'busy', liveCallId: 'call-0001' }, 'no glare once active');
});

test('glare: both units reach the same verdict, lower (unit id, call id) wins', (t) => {
  // Unit A (id aaaa...) calls B with a-call while B (id bbbb...) calls A with b-call.
  const aCall = newCall({ id: 'zzzz-a-call', direction: 'outgoing', caller: A, callee: B, now: 0 });
  const bCall = newCall({ id: 'aaaa-b-call', direction: 'outgoing', caller: B, callee: A, now: 0 });
  const atA = decideOffer(aCall, { callId: bCall.id, caller: B, callee: A });
  const atB = decideOffer(bCall, { callId: aCall.id, caller: A, callee: B });
  t.deepEqual(atA, { kind: 'glare-lost', winningCallId: aCall.id });
  t.deepEqual(atB, { kind: 'glare-won', supersededCallId: bCall.id, autoAnswer: true });
  // Different people on the same two units: still one call, but it rings instead of connecting.
  const other = { user: 'Hall', unitId: B.unitId };
  const atB2 = decideOffer(newCall({ id: 'b2', direction: 'outgoing', caller: other, callee: A, now: 0 }), { callId: aCall.id, caller: A, callee: B });
  t.deepEqual(atB2, { kind: 'glare-won', supersededCallId: 'b2', autoAnswer: false });
});

test('glare winner is a total order: same unit falls back to call id, and is symmetric', (t) => {
  t.is(glareWinner({ callerUnitId: 'a', callId: 'z' }, { callerUnitId: 'b', callId: 'a' }), 'a');
  t.is(glareWinner({ callerUnitId: 'b', callId: 'a' }, { callerUnitId: 'a', callId: 'z' }), 'b');
  t.is(glareWinner({ callerUnitId: 'a', callId: 'x' }, { callerUnitId: 'a', callId: 'y' }), 'a');
  t.is(glareWinner({ callerUnitId: 'a', callId: 'y' }, { callerUnitId: 'a', callId: 'x' }), 'b');
});

test('ring timeout is measured from when the call was placed', (t) => {
  const call = outgoing();
  t.false(ringExpired(call, 1000 + 29_999, 30_000));
  t.true(ringExpired(call, 1000 + 30_000, 30_000));
  const active = answer(call, 2000);
  if (active.ok) t.false(ringExpired(active.call, 100_000, 30_000));
});

test('peer-lost needs both audio and signaling silent for the threshold', (t) => {
  const active = answer(outgoing(), 10_000);
  if (!active.ok) return t.fail();
  const call = active.call;
  const base = { call, now: 20_000, peerLostMs: 4000 };
  t.true(peerIsLost({ ...base, msSinceLastPacket: 4000, lastSignalingAt: 16_000 }));
  t.false(peerIsLost({ ...base, msSinceLastPacket: 3999, lastSignalingAt: 0 }), 'audio still arriving');
  t.false(peerIsLost({ ...base, msSinceLastPacket: 60_000, lastSignalingAt: 16_001 }), 'signaling still answering');
  // No packet ever: silence counts from the answer.
  t.false(peerIsLost({ ...base, now: 13_999, msSinceLastPacket: null, lastSignalingAt: 0 }));
  t.true(peerIsLost({ ...base, now: 14_000, msSinceLastPacket: null, lastSignalingAt: 0 }));
  t.false(peerIsLost({ ...base, call: outgoing(), msSinceLastPacket: 99_999, lastSignalingAt: 0 }), 'a ringing call is never peer-lost');
});
