import test from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { startUnit } from '../support/unit-harness.js';
import { launchUnit } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';

// With mqtt.url unset (the shipped default) there is no MQTT client at all: no bridge object, no
// connection attempt, to any address.

test.serial('in-process: no bridge is built and the unit opens no connection to anywhere', async (t) => {
  const attempts: string[] = [];
  const socketConnect = net.Socket.prototype.connect;
  const tlsConnect = tls.connect;
  // Every TCP (and so TLS, WebSocket and fetch) connection goes through Socket.prototype.connect.
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    attempts.push(JSON.stringify(args[0]));
    return (socketConnect as (...rest: unknown[]) => net.Socket).apply(this, args);
  } as typeof socketConnect;
  (tls as { connect: unknown }).connect = (...args: unknown[]) => {
    attempts.push(`tls ${JSON.stringify(args[0])}`);
    return (tlsConnect as (...rest: unknown[]) => tls.TLSSocket)(...args);
  };
  t.teardown(() => {
    net.Socket.prototype.connect = socketConnect;
    (tls as { connect: unknown }).connect = tlsConnect;
  });

  const unit = await startUnit('Quiet', { listen: false });
  t.teardown(() => unit.close());
  await unit.unit.start();
  t.is(unit.unit.mqtt, null, 'no MQTT bridge exists');
  const status = (await unit.app.inject({ method: 'GET', url: '/api/status', headers: { ...unit.auth } })).json();
  t.like(status.mqtt, { configured: false, state: 'off', broker: null, connectionAttempts: 0 });
  // Long enough for anything started at start() to have tried (the bridge connects at once when it exists).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.deepEqual(attempts, [], 'no outgoing connection');

  // The watch sees MQTT's connections: the same unit with mqtt.url set tries at once.
  const loud = await startUnit('Loud', { listen: false, mqtt: { url: 'mqtt://127.0.0.1:9' } });
  t.teardown(() => loud.close());
  await loud.unit.start();
  t.not(loud.unit.mqtt, null);
  t.true(attempts.some((attempt) => attempt.includes('"port":9')), JSON.stringify(attempts));
});

/** The TCP sockets of a process, from /proc: [state, local port, remote port]. */
async function tcpSocketsOf(pid: number): Promise<Array<{ state: string; localPort: number; remotePort: number }>> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]);
  }
  const sockets: Array<{ state: string; localPort: number; remotePort: number }> = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = (await readFile(`/proc/${pid}/net/${table}`, 'utf8')).trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (!inodes.has(fields[9])) continue;
      const port = (address: string) => Number.parseInt(address.split(':')[1], 16);
      const states: Record<string, string> = { '01': 'ESTABLISHED', '02': 'SYN_SENT', '0A': 'LISTEN', '06': 'TIME_WAIT', '08': 'CLOSE_WAIT' };
      sockets.push({ state: states[fields[3]] ?? fields[3], localPort: port(fields[1]), remotePort: port(fields[2]) });
    }
  }
  return sockets;
}

test.serial('a real unit process with the shipped configuration listens on its HTTP port and connects nowhere', async (t) => {
  const unit = await launchUnit(t, { name: 'Quiet process' });
  const status = (await unit.api('GET', '/api/status')).body;
  t.like(status.mqtt, { configured: false, state: 'off' });
  t.false(unit.logs.some((line) => line.module === 'mqtt' || /MQTT/.test(String(line.msg))), 'no MQTT log line');
  // Every TCP socket it holds is its HTTP listener or a connection someone made to it.
  const sockets = await eventually('the sockets read', async () => {
    const found = await tcpSocketsOf(unit.child.pid!);
    return found.length > 0 ? found : undefined;
  });
  t.log(JSON.stringify(sockets));
  for (const socket of sockets) t.is(socket.localPort, unit.httpPort, `${socket.state} ${socket.localPort} -> ${socket.remotePort}`);
  t.true(sockets.some((socket) => socket.state === 'LISTEN'));
  // Its API still answers whatever about MQTT there is to ask.
  t.is((await unit.api('GET', '/api/do-not-disturb')).status, 200);
});
