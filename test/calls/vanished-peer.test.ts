import test from 'ava';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freeTcpPort, launchUnit, type UnitProcess } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';

// A call whose peer vanishes must end as peer-lost within calls.peerLostMs (plus a second), even
// while something that looks like that peer still answers the directory's polls. Here B's unit
// identity answers at a second address too (B's data directory, copied: a restarted or cloned
// unit), and the unit A is talking to is killed mid-call. Before: A counted directory polls as call
// signaling and probed only the dead address the call began at, so the call stayed active without
// audio for as long as the polls answered. Now only the call's own media and call signaling count.

const PEER_LOST_MS = 2000;
const CONFIG = { discovery: { pollIntervalMs: 250, offlineAfterMs: 1500, requestTimeoutMs: 3000 }, calls: { peerLostMs: PEER_LOST_MS } };

const phase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';

test.serial('a peer that vanishes mid-call ends the call peer-lost within peerLostMs + 1 s, though its twin still answers polls', async (t) => {
  t.timeout(180_000);
  const dataDirB = await mkdtemp(path.join(os.tmpdir(), 'intercom-vanishing-B-'));
  const dataDirTwin = await mkdtemp(path.join(os.tmpdir(), 'intercom-twin-B-'));
  t.teardown(async () => {
    await rm(dataDirB, { recursive: true, force: true });
    await rm(dataDirTwin, { recursive: true, force: true });
  });
  const [portA, portB, portTwin] = await Promise.all([freeTcpPort(), freeTcpPort(), freeTcpPort()]);
  const [a, b] = await Promise.all([
    launchUnit(t, { name: 'A', httpPort: portA, peers: [`127.0.0.1:${portB}`, `127.0.0.1:${portTwin}`], config: CONFIG, readyTimeoutMs: 90_000 }),
    launchUnit(t, { name: 'B', httpPort: portB, peers: [`127.0.0.1:${portA}`], config: CONFIG, dataDir: dataDirB, readyTimeoutMs: 90_000 }),
  ]);
  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  await eventually('A to see B\'s user', async () =>
    ((await a.api('GET', '/api/users')).body.users as { name: string; online: boolean }[]).some((user) => user.name === 'Front door' && user.online),
  );
  const initiated = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  const callId: string = initiated.body.call.id;
  await eventually('B to ring', async () => (await phase(b)) === 'ringing');
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('media both ways', async () => ((await a.api('GET', '/api/calls')).body.current?.stats?.packetsReceived ?? 0) > 50);

  // B's twin: the same unit id and users, at another address, answering A's polls.
  await cp(dataDirB, dataDirTwin, { recursive: true });
  await launchUnit(t, { name: 'B', httpPort: portTwin, peers: [`127.0.0.1:${portA}`], config: CONFIG, dataDir: dataDirTwin, readyTimeoutMs: 90_000 });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.is(await phase(a), 'active', a.logs.filter((line) => String(line.msg).includes('call') || String(line.msg).includes('peer')).map((line) => JSON.stringify(line)).join('\n'));

  const killedAt = Date.now();
  b.child.kill('SIGKILL');
  const ended = await a
    .waitForLog((line) => line.msg === 'call ended' && line.callId === callId, PEER_LOST_MS + 15_000)
    .catch(() => null);
  t.truthy(ended, `A's call is still ${await phase(a)} ${Date.now() - killedAt} ms after its peer vanished`);
  if (!ended) return;
  const afterMs = Number(ended.time) - killedAt;
  t.log(`A ended the call ${afterMs} ms after B vanished (${ended.reason})`);
  t.is(ended.reason, 'peer-lost');
  t.true(afterMs <= PEER_LOST_MS + 1000, `ended ${afterMs} ms after the peer vanished; peerLostMs is ${PEER_LOST_MS}`);
});
