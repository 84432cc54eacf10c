import test, { type ExecutionContext } from 'ava';
import { callOn, currentPhase, establishCall, eventually, twoUnits } from './fault-helpers.js';
import type { UnitProcess } from '../support/unit-process.js';

// The network between two units in a call goes away for 5 s. The units send media straight to each
// other's address from signaling, so no proxy can be put between them: the drop is simulated by
// freezing the callee (SIGSTOP) for 5 s, which silences both its signaling and its audio, then
// letting it go on (SIGCONT). Whatever happens, no unit may stay in a call the other has left
// for longer than the liveness timeout.

const DROP_MS = 5_000;

interface Snapshot {
  at: number;
  a: { phase: string; received: number };
  b: { phase: string; received: number };
}

async function snapshot(a: UnitProcess, b: UnitProcess): Promise<Snapshot> {
  const [onA, onB] = await Promise.all([a.api('GET', '/api/calls'), b.api('GET', '/api/calls')]);
  const side = (body: any) => ({ phase: body.current?.phase ?? 'idle', received: body.current?.stats?.packetsReceived ?? 0 });
  return { at: performance.now(), a: side(onA.body), b: side(onB.body) };
}

/** Freezes B for DROP_MS, then watches both until they agree; fails if they disagree longer than `peerLostMs` + slack. */
async function dropAndWatch(t: ExecutionContext, a: UnitProcess, b: UnitProcess, peerLostMs: number): Promise<Snapshot> {
  b.child.kill('SIGSTOP');
  const stoppedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, DROP_MS)); // the scenario itself: 5 s without a network
  b.child.kill('SIGCONT');
  const resumedAt = performance.now();
  t.log(`B frozen for ${(resumedAt - stoppedAt).toFixed(0)} ms`);
  let disagreeingSince: number | undefined;
  const settled = await eventually(
    'both units to agree on the call again',
    async () => {
      const now = await snapshot(a, b);
      const agree = now.a.phase === now.b.phase;
      if (!agree) {
        disagreeingSince ??= now.at;
        // One side in the call while the other has left it: allowed only while the liveness timeout runs.
        if (now.at - disagreeingSince > peerLostMs + 2_000) {
          throw new Error(`stuck call: A ${now.a.phase}, B ${now.b.phase} for ${(now.at - disagreeingSince).toFixed(0)} ms`);
        }
        return false;
      }
      disagreeingSince = undefined;
      return now;
    },
    peerLostMs + 10_000,
  );
  t.log(`after the drop: A ${settled.a.phase}, B ${settled.b.phase}, ${(settled.at - resumedAt).toFixed(0)} ms after B resumed`);
  return settled;
}

test.serial('a 5 s drop longer than the liveness timeout: the call ends with a reason on both sides', async (t) => {
  const peerLostMs = 3_000;
  const { a, b } = await twoUnits(t, null, { calls: { peerLostMs } });
  const callId = await establishCall(t, a, b);
  await dropAndWatch(t, a, b, peerLostMs);
  const [endedA, endedB] = await eventually('the call to end on both', async () => {
    const [onA, onB] = await Promise.all([callOn(a, callId), callOn(b, callId)]);
    return onA.phase === 'ended' && onB.phase === 'ended' && [onA, onB];
  });
  t.log(`end reasons: A ${endedA.endReason}, B ${endedB.endReason}`);
  t.is(endedA.endReason, 'peer-lost');
  t.true(['peer-lost', 'hung-up'].includes(endedB.endReason), endedB.endReason);
  t.is(await currentPhase(a), 'idle');
  t.is(await currentPhase(b), 'idle');
  // Both are usable afterwards: a new call goes through.
  const next = await establishCall(t, a, b);
  t.is((await a.api('POST', '/api/signal/end', { callId: next })).status, 200);
});

test.serial('a 5 s drop shorter than the liveness timeout: the call stays up and audio flows again both ways', async (t) => {
  const peerLostMs = 10_000;
  const { a, b } = await twoUnits(t, null, { calls: { peerLostMs } });
  const callId = await establishCall(t, a, b);
  const before = await snapshot(a, b);
  const settled = await dropAndWatch(t, a, b, peerLostMs);
  t.is(settled.a.phase, 'active');
  t.is(settled.b.phase, 'active');
  // Audio resumes: both sides receive a second's worth of fresh packets after the drop.
  const framesPerSecond = 1000 / 20;
  await eventually('packets to flow again both ways', async () => {
    const now = await snapshot(a, b);
    return now.a.received > settled.a.received + framesPerSecond && now.b.received > settled.b.received + framesPerSecond && now.a.phase === 'active' && now.b.phase === 'active';
  });
  const afterA = (await a.api('GET', '/api/calls')).body.current.stats;
  t.log(`A after the drop: ${JSON.stringify(afterA)}`);
  t.true(afterA.packetsReceived > before.a.received);
  t.true(afterA.msSinceLastPacket < 1_000, `A hears B again (${afterA.msSinceLastPacket} ms since the last packet)`);
  t.is((await a.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both idle', async () => (await currentPhase(a)) === 'idle' && (await currentPhase(b)) === 'idle');
  t.like(await callOn(b, callId), { phase: 'ended', endReason: 'hung-up' });
});
