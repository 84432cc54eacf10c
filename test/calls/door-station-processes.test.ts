import test from 'ava';
import { launchSite, type UnitProcess } from '../support/unit-process.js';

// The door station's behaviour across two real unit processes (src/main.ts under tsx, static
// peers of each other on loopback, no sound card, no GPIO): a flat calls the door station, which
// answers by itself after its tone; with do-not-disturb on it answers busy; OPEN travels signed
// to the door station, which has no relay here and says so.

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const callOn = (unit: UnitProcess, callId: string) => async () => {
  const { body } = await unit.api('GET', `/api/calls/${callId}`);
  return body?.call as { phase: string; endReason: string | null; ringingMs: number } | undefined;
};

test('a door station process answers a flat by itself after its tone, never in do-not-disturb, and OPEN reaches it signed', async (t) => {
  const [door, flat] = await launchSite(t, [
    { name: 'Door', config: { calls: { autoAnswer: { enabled: true, delayMs: 1500 } } } },
    { name: 'Flat' },
  ]);
  t.is((await door.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  t.is((await flat.api('POST', '/api/users/register', { name: 'Flat 1' })).status, 201);
  await until('the flat to see the door station', async () => ((await flat.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'Front door' && user.online) ? true : undefined));

  // Do-not-disturb on: the call is answered busy and the door station never opens its line.
  t.is((await door.api('PUT', '/api/do-not-disturb', { enabled: true })).status, 200);
  const refused = await flat.api('POST', '/api/signal/initiate', { from: 'Flat 1', to: 'Front door' });
  t.like(refused.body.call, { phase: 'ended', endReason: 'busy' });
  t.is((await door.api('PUT', '/api/do-not-disturb', { enabled: false })).status, 200);

  const placed = await flat.api('POST', '/api/signal/initiate', { from: 'Flat 1', to: 'Front door' });
  t.is(placed.body.call.phase, 'ringing');
  const callId = placed.body.call.id as string;
  const active = await until('the call to become active on the door station', async () => {
    const call = await callOn(door, callId)();
    return call?.phase === 'active' ? call : undefined;
  });
  t.true(active.ringingMs >= 1500, `it rang for the delay first (${active.ringingMs} ms)`);
  await until('the flat to talk', async () => ((await callOn(flat, callId)()) ?.phase === 'active' ? true : undefined));
  const tone = door.logs.findIndex((line) => String(line.msg).startsWith('auto-answer tone'));
  const answer = door.logs.findIndex((line) => String(line.msg).startsWith('auto-answer: answering'));
  t.true(tone >= 0 && answer > tone, 'the tone, then the answer, in the door station log');
  t.is(door.logs.filter((line) => String(line.msg).startsWith('auto-answer: answering')).length, 1, 'the busy call was never auto-answered');

  // OPEN from the flat: signed to the door station, which has no GPIO here and says so.
  const open = await flat.api('POST', `/api/calls/${callId}/open-door`);
  t.is(open.status, 409, JSON.stringify(open.body));
  t.is(open.body.error, 'gpio-unavailable');
  t.regex(open.body.message, /unit Door did not open its door/);
});
