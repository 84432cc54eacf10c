import test from 'ava';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { freeTcpPort, launchUnit, type UnitProcess } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';

// One host on the LAN opens 5,000 TCP connections to a unit and never sends a byte. Before: the
// unit accepted and kept all of them until it ran out of file descriptors (1024 here, the limit a
// service gets without LimitNOFILE); then nobody could reach its API or panel, and the next time
// it retried its sound device it died of an uncaught "spawn EMFILE". Now one address may hold at
// most http.maxConnectionsPerAddress connections, all together stay below half the descriptor
// limit, idle ones time out: health answers quickly, people log in, another unit calls, and the
// unit's memory stays flat. ("Another address" is 127.0.0.1, the attacker is 127.0.0.2.)

const ATTACK_CONNECTIONS = 5000;
const FILE_LIMIT = 1024;

function rssMiB(unit: UnitProcess): number {
  const status = readFileSync(`/proc/${unit.child.pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** Opens `count` connections from `localAddress`, a batch at a time, and keeps every one the unit keeps. */
async function openIdleConnections(port: number, localAddress: string, count: number): Promise<{ sockets: Socket[]; open: () => number }> {
  const sockets: Socket[] = [];
  let open = 0;
  for (let started = 0; started < count; started += 250) {
    const batch = Array.from({ length: Math.min(250, count - started) }, () => {
      const socket = connect({ host: '127.0.0.1', port, localAddress });
      sockets.push(socket);
      return new Promise<void>((resolve) => {
        socket.once('connect', () => {
          open += 1;
          socket.once('close', () => (open -= 1));
          resolve();
        });
        socket.once('error', () => resolve());
        socket.once('close', () => resolve());
      });
    });
    await Promise.all(batch);
  }
  return { sockets, open: () => open };
}

async function healthMs(unit: UnitProcess): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${unit.baseUrl}/api/health`, { signal: AbortSignal.timeout(5000) });
  await response.text();
  if (response.status !== 200) throw new Error(`health answered ${response.status}`);
  return performance.now() - started;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const phase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';

test.serial('5,000 idle connections from one address: health answers in < 100 ms, people log in, another unit calls, memory stays flat', async (t) => {
  t.timeout(240_000);
  const [portA, portB] = await Promise.all([freeTcpPort(), freeTcpPort()]);
  const config = { discovery: { pollIntervalMs: 500, offlineAfterMs: 5000, requestTimeoutMs: 5000 } };
  const [a, b] = await Promise.all([
    launchUnit(t, { name: 'A', httpPort: portA, peers: [`127.0.0.1:${portB}`], config, openFileLimit: FILE_LIMIT, readyTimeoutMs: 90_000 }),
    launchUnit(t, { name: 'B', httpPort: portB, peers: [`127.0.0.1:${portA}`], config, readyTimeoutMs: 90_000 }),
  ]);
  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  await eventually('B to see A\'s user', async () =>
    ((await b.api('GET', '/api/users')).body.users as { name: string; online: boolean }[]).some((user) => user.name === 'Kitchen' && user.online),
  );
  const healthBefore = median(await Promise.all(Array.from({ length: 5 }, () => healthMs(a))));
  const rssBefore = rssMiB(a);

  const attack = await openIdleConnections(a.httpPort, '127.0.0.2', ATTACK_CONNECTIONS);
  t.teardown(() => attack.sockets.forEach((socket) => socket.destroy()));
  // The unit closes what it does not keep at once; give those closes a moment to arrive here.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.log(`the attacker opened ${ATTACK_CONNECTIONS} connections; ${attack.open()} are still open`);

  // While the attacker holds what it could keep: the unit answers everyone else.
  const healthDuring: number[] = [];
  for (let i = 0; i < 10; i += 1) healthDuring.push(await healthMs(a));
  t.log(`health: ${healthBefore.toFixed(1)} ms before, median ${median(healthDuring).toFixed(1)} ms (max ${Math.max(...healthDuring).toFixed(1)}) during the attack`);
  t.true(median(healthDuring) < 100, `health takes ${median(healthDuring).toFixed(1)} ms`);
  const session = await a.login();
  t.truthy(session.cookie, 'a person logs in to the panel');
  const initiated = await b.api('POST', '/api/signal/initiate', { from: 'Front door', to: 'Kitchen' });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  t.is(initiated.body.call.phase, 'ringing', 'another unit rings this one');
  t.is((await a.api('POST', '/api/signal/accept', { callId: initiated.body.call.id })).status, 200);
  await eventually('the call to be active on both', async () => (await phase(a)) === 'active' && (await phase(b)) === 'active');
  t.is((await a.api('POST', '/api/signal/end', { callId: initiated.body.call.id })).status, 200);

  const rssAfter = rssMiB(a);
  t.log(`RSS ${rssBefore.toFixed(1)} -> ${rssAfter.toFixed(1)} MiB; the unit kept ${attack.open()} of the attacker's connections`);
  t.true(rssAfter - rssBefore < 30, `memory grew ${(rssAfter - rssBefore).toFixed(1)} MiB`);
  t.true(attack.open() <= 32, `the attacker holds ${attack.open()} connections`);
  t.truthy(
    a.logs.find((line) => typeof line.msg === 'string' && line.msg.includes('its address has as many open as it may')),
    'the refusals are logged',
  );
  t.is(a.child.exitCode, null, 'the unit is still running');
});
