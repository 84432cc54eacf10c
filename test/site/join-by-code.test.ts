import test from 'ava';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startUnit, api, waitForCall, type TestUnit } from '../support/unit-harness.js';
import { eventually } from '../support/eventually.js';
import { generateSiteSecret, readReplacedConfigSecret, siteSecretPath, storeSiteSecret, type SiteSecret } from '../../src/security/site-secret.js';
import { TEST_SITE_SECRET } from '../support/test-site.js';

// Two units that do not share a secret (each made its own, as a freshly flashed unit does) pair by
// a one-time code over real HTTP on loopback, then call each other. Wrong codes, spent codes and
// units that may not join are refused with their reasons.

/** A unit as after its first start: a secret of its own in <dataDir>/site-secret. */
async function freshUnit(t: { teardown(fn: () => Promise<void>): void }, name: string, user: string): Promise<TestUnit> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `intercom-join-${name}-`));
  const secret = generateSiteSecret();
  const file = await storeSiteSecret(dataDir, secret);
  const siteSecret: SiteSecret = { secret, source: 'generated', file };
  const unit = await startUnit(name, { dataDir, siteSecret });
  t.teardown(async () => {
    await unit.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await api(unit, 'POST', '/api/users/register', { name: user });
  return unit;
}

/** Each unit knows the other's address (as DNS-SD would find it); they do not trust each other yet. */
function seeEachOther(a: TestUnit, b: TestUnit): void {
  a.unit.directory.addCandidate({ host: '127.0.0.1', port: b.port, source: 'static' });
  b.unit.directory.addCandidate({ host: '127.0.0.1', port: a.port, source: 'static' });
}

test('two fresh units pair by code over HTTP, the new one stores the secret, both see each other, and they call each other', async (t) => {
  const a = await freshUnit(t, 'Hall', 'Hall');
  const b = await freshUnit(t, 'Kitchen', 'Kitchen');
  seeEachOther(a, b);

  // Before: each lists the other as untrusted, with the reason.
  const untrustedOnB = await eventually('B lists A as untrusted', async () => {
    const site = (await api(b, 'GET', '/api/site')).body;
    return site.untrusted.find((entry: { address: string }) => entry.address === `127.0.0.1:${a.port}`);
  });
  t.like(untrustedOnB, { reason: 'not-in-a-site', source: 'static' });
  t.like((await api(b, 'GET', '/api/site')).body, { secretSource: 'generated', units: 0, joinRefusal: null, invitation: null });

  const invitation = await api(a, 'POST', '/api/site/invitation');
  t.is(invitation.status, 201);
  t.regex(invitation.body.code, /^[0-9]{6}$/);
  t.like(invitation.body, { triesLeft: 3 });
  t.true(invitation.body.validForMs > 290_000 && invitation.body.validForMs <= 300_000);

  const joined = await api(b, 'POST', '/api/site/join', { code: invitation.body.code, host: `127.0.0.1:${a.port}` });
  t.is(joined.status, 200, JSON.stringify(joined.body));
  t.like(joined.body, { joined: { unitId: a.unit.unitId, name: 'Hall' }, restarted: false });

  // Stored atomically, readable by the service only, and the same as A's.
  const fileOnB = siteSecretPath(b.dataDir);
  t.is((await readFile(fileOnB, 'utf8')).trim(), (await readFile(siteSecretPath(a.dataDir), 'utf8')).trim());
  t.is((await stat(fileOnB)).mode & 0o777, 0o600);
  t.is(b.unit.site.source(), 'file');

  // Both directories have the other unit, without a restart.
  await eventually('A and B see each other', async () => {
    const onA = (await api(a, 'GET', '/api/users')).body.users as { name: string; online: boolean }[];
    const onB = (await api(b, 'GET', '/api/users')).body.users as { name: string; online: boolean }[];
    return onA.some((user) => user.name === 'Kitchen' && user.online) && onB.some((user) => user.name === 'Hall' && user.online);
  });
  t.deepEqual((await api(b, 'GET', '/api/site')).body.untrusted, []);
  // The code is spent.
  t.is((await api(a, 'GET', '/api/site')).body.invitation, null);
  const again = await api(b, 'POST', '/api/site/join', { code: invitation.body.code, host: `127.0.0.1:${a.port}` });
  t.is(again.status, 409, 'B is in a site now');
  t.is(again.body.error, 'in-a-site');

  // A third unit on its own: Hall lists it as not in a site; it lists Hall as a unit of another site.
  const c = await freshUnit(t, 'Cellar', 'Cellar');
  seeEachOther(a, c);
  await eventually('Hall and Cellar list each other with their reasons', async () => {
    const onA = (await api(a, 'GET', '/api/site')).body.untrusted as Array<{ address: string; reason: string }>;
    const onC = (await api(c, 'GET', '/api/site')).body.untrusted as Array<{ address: string; reason: string }>;
    return onA.some((entry) => entry.address === `127.0.0.1:${c.port}` && entry.reason === 'not-in-a-site') && onC.some((entry) => entry.address === `127.0.0.1:${a.port}` && entry.reason === 'another-site');
  });

  // They call each other, both ways.
  const call = await api(b, 'POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Hall' });
  t.is(call.status, 200, JSON.stringify(call.body));
  const ringing = await waitForCall(a, (snapshot) => snapshot.id === call.body.call.id && snapshot.phase === 'ringing');
  t.is(ringing.caller.user, 'Kitchen');
  t.is((await api(a, 'POST', '/api/signal/accept', { callId: call.body.call.id })).status, 200);
  await waitForCall(b, (snapshot) => snapshot.id === call.body.call.id && snapshot.phase === 'active');
  await api(b, 'POST', '/api/signal/end', { callId: call.body.call.id });
  await waitForCall(a, (snapshot) => snapshot.id === call.body.call.id && snapshot.phase === 'ended');
  const back = await api(a, 'POST', '/api/signal/initiate', { from: 'Hall', to: 'Kitchen' });
  t.is(back.status, 200, JSON.stringify(back.body));
  await waitForCall(b, (snapshot) => snapshot.id === back.body.call.id && snapshot.phase === 'ringing');
  await api(a, 'POST', '/api/signal/end', { callId: back.body.call.id });
});

test('three wrong codes kill the code: the right one is refused after them', async (t) => {
  const a = await freshUnit(t, 'Porch', 'Porch');
  const b = await freshUnit(t, 'Attic', 'Attic');
  const { code } = (await api(a, 'POST', '/api/site/invitation')).body as { code: string };
  const wrong = (n: number) => String((Number(code) + n) % 1_000_000).padStart(6, '0');
  for (const n of [1, 2, 3]) {
    const answer = await api(b, 'POST', '/api/site/join', { code: wrong(n), host: `127.0.0.1:${a.port}` });
    t.is(answer.status, 403, JSON.stringify(answer.body));
    t.is(answer.body.error, 'wrong-code');
  }
  t.is((await api(a, 'GET', '/api/site')).body.invitation, null, 'no code is open on A');
  const right = await api(b, 'POST', '/api/site/join', { code, host: `127.0.0.1:${a.port}` });
  t.is(right.status, 410);
  t.is(right.body.error, 'code-dead');
  t.not((await readFile(siteSecretPath(b.dataDir), 'utf8')).trim(), (await readFile(siteSecretPath(a.dataDir), 'utf8')).trim(), 'B did not get the secret');

  // A new code works.
  const fresh = (await api(a, 'POST', '/api/site/invitation')).body as { code: string };
  t.is((await api(b, 'POST', '/api/site/join', { code: fresh.code, host: `127.0.0.1:${a.port}` })).status, 200);
});

test('a unit whose secret is in its config may join (the joined secret replaces it until site.secret changes); a withdrawn or absent code is refused', async (t) => {
  const a = await freshUnit(t, 'Garage', 'Garage');
  const configured = await startUnit('Configured');
  t.teardown(() => configured.close());
  t.is(configured.unit.site.source(), 'config');
  const { code } = (await api(a, 'POST', '/api/site/invitation')).body as { code: string };
  const fromConfig = await api(configured, 'POST', '/api/site/join', { code, host: `127.0.0.1:${a.port}` });
  t.is(fromConfig.status, 200, JSON.stringify(fromConfig.body));
  t.is(configured.unit.site.source(), 'config-replaced');
  t.is(await readReplacedConfigSecret(configured.dataDir, TEST_SITE_SECRET), (await readFile(siteSecretPath(a.dataDir), 'utf8')).trim());

  t.is((await api(a, 'DELETE', '/api/site/invitation')).status, 200);
  const b = await freshUnit(t, 'Cellar', 'Cellar');
  const withdrawn = await api(b, 'POST', '/api/site/join', { code, host: `127.0.0.1:${a.port}` });
  t.is(withdrawn.status, 409);
  t.is(withdrawn.body.error, 'no-invitation');
  t.is((await api(b, 'POST', '/api/site/join', { code: '12345', host: `127.0.0.1:${a.port}` })).status, 400);
  t.is((await api(b, 'POST', '/api/site/join', { code, host: 'no such host!' })).status, 400);
  // Without a session nothing of this is open to people.
  t.is((await fetch(`${a.baseUrl}/api/site/invitation`, { method: 'POST' })).status, 401);
  t.is((await fetch(`${a.baseUrl}/api/site`)).status, 401);
});
