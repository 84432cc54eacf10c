import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { storeSiteSecret } from '../../src/security/site-secret.js';
import { launchSite, startUnitProcess, TEST_SITE_SECRET } from '../support/unit-process.js';
import { callOn, currentPhase, establishCall, eventually, registerPair, seeEachOther, USER_B } from './fault-helpers.js';

// The callee's service is killed with SIGKILL mid-call and started again on the same data dir:
// its users, its stored site secret and its panel password survive, the caller ends the call cleanly, and a new call
// between the two works.

test.serial('killed with -9 mid-call and restarted: state intact, the peer ends the call, a new call works', async (t) => {
  // B keeps its site secret in its data dir (source "file"), as a unit that joined a site does.
  const dataDirB = await mkdtemp(path.join(os.tmpdir(), 'intercom-kill9-B-'));
  t.teardown(() => rm(dataDirB, { recursive: true, force: true }));
  await storeSiteSecret(dataDirB, TEST_SITE_SECRET);
  const [a, b] = await launchSite(t, [{ name: 'A' }, { name: 'B', dataDir: dataDirB, siteSecret: null }]);
  await registerPair(t, a, b);
  const securityBefore = (await b.api('GET', '/api/status')).body.security.peerRequests;
  t.is(securityBefore.secretSource, 'file');
  const usersFileBefore = await readFile(path.join(dataDirB, 'users.json'), 'utf8');
  const passwordFileBefore = await readFile(path.join(dataDirB, 'panel-password'), 'utf8');

  const callId = await establishCall(t, a, b);
  b.child.kill('SIGKILL');
  await b.stop(); // waits for the exit; the data dir is not removed (given explicitly)

  // The panel password is not stored again: logging in proves the stored one survived.
  const restarted = await startUnitProcess({ name: 'B', httpPort: b.httpPort, peers: [a.address], dataDir: dataDirB, siteSecret: null, storePassword: false });
  t.teardown(() => restarted.stop());

  // State intact: the same users file, the user registered, the secret from the same file, the panel password.
  t.is(await readFile(path.join(dataDirB, 'users.json'), 'utf8'), usersFileBefore);
  t.is(await readFile(path.join(dataDirB, 'panel-password'), 'utf8'), passwordFileBefore);
  const usersAfter = (await restarted.api('GET', '/api/users')).body.users;
  t.true(usersAfter.some((user: { name: string; local?: boolean }) => user.name === USER_B), JSON.stringify(usersAfter));
  const status = (await restarted.api('GET', '/api/status')).body;
  t.is(status.security.peerRequests.secretSource, 'file');
  t.is(await readFile(path.join(dataDirB, 'site-secret'), 'utf8'), `${TEST_SITE_SECRET}\n`);
  t.is(await currentPhase(restarted), 'idle', 'the restarted unit does not believe it is still in the call');

  // The caller ends the call cleanly, with a reason, by the liveness timeout.
  const ended = await eventually('A to end the call', async () => {
    const call = await callOn(a, callId);
    return call.phase === 'ended' && call;
  });
  t.log(`A ended the call: ${ended.endReason}`);
  t.true(['peer-lost', 'hung-up'].includes(ended.endReason), ended.endReason);
  t.is(await currentPhase(a), 'idle');

  // Signed signaling still works between them (same secret), and a new call goes through.
  await seeEachOther(a, restarted);
  const secondCall = await establishCall(t, a, restarted);
  t.not(secondCall, callId);
  const stats = await eventually('audio packets in the new call', async () => {
    const current = (await a.api('GET', '/api/calls')).body.current;
    return current?.stats?.packetsReceived > 50 && current.stats;
  });
  t.is(stats.packetsMalformed, 0);
  t.is((await restarted.api('POST', '/api/signal/end', { callId: secondCall })).status, 200);
  await eventually('both idle', async () => (await currentPhase(a)) === 'idle' && (await currentPhase(restarted)) === 'idle');
  t.like(await callOn(a, secondCall), { phase: 'ended', endReason: 'hung-up' });
  t.is((await restarted.api('GET', '/api/status')).body.security.peerRequests.secretSource, 'file');
});
