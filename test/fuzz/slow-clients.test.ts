import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import { startUnit, type TestUnit } from '../support/unit-harness.js';

// Clients that are slow, stall, or send too much, on a real socket (inject() has no socket).
// They must not hold up anyone else, must get a clean 4xx for what is too big, and must be
// disconnected by the server's own timeouts rather than held open for ever.

/**
 * A stalled client must be gone within this: on a Raspberry Pi a service gets about a thousand
 * file descriptors, so a limit this long still needs an attacker to open more than 30 connections
 * a second, and a browser on a bad Wi-Fi link still gets its request through.
 */
const STALLED_CLIENT_LIMIT_MS = 30_000;
/** Node checks its headers and request timeouts on this interval unless the server sets another. */
const NODE_DEFAULT_CHECK_INTERVAL_MS = 30_000;
const PROMPT_MS = 500;

const ERROR_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

interface RawClient {
  socket: net.Socket;
  received(): string;
  closed: Promise<number>;
}

/** A TCP client that records what the server sends and when it hangs up. */
async function connect(unit: TestUnit, localAddress?: string): Promise<RawClient> {
  const socket = net.connect({ port: unit.port, host: '127.0.0.1', localAddress });
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  socket.on('error', () => undefined);
  const opened = performance.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - opened)));
  return { socket, received: () => received, closed };
}

/** Writes `text` a byte at a time, `intervalMs` apart, until done or the socket closes. */
async function dribble(client: RawClient, text: string, intervalMs: number): Promise<void> {
  for (const byte of text) {
    if (client.socket.destroyed || client.socket.writableEnded) return;
    client.socket.write(byte);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function timedHealth(unit: TestUnit): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${unit.baseUrl}/api/health`, { headers: { connection: 'close' } });
  if (response.status !== 200) throw new Error(`/api/health answered ${response.status}`);
  await response.arrayBuffer();
  return performance.now() - started;
}

/** Request header lines of the unit's logged-in session: without them a POST is refused (401) before its body is read. */
function sessionLines(unit: TestUnit): string {
  return `Cookie: ${unit.auth.cookie}\r\nX-CSRF-Token: ${unit.auth['x-csrf-token']}\r\n`;
}

async function withListeningUnit(run: (unit: TestUnit) => Promise<void>): Promise<void> {
  const unit = await startUnit('Hall');
  const clients = new Set<net.Socket>();
  try {
    await run(unit);
  } finally {
    for (const socket of clients) socket.destroy();
    // Forcibly: close() would otherwise wait for the stalled clients this file opens.
    unit.app.server.closeAllConnections();
    await unit.close();
  }
}

test('slow and stalled clients do not hold up anyone else', async (t) => {
  await withListeningUnit(async (unit) => {
    const clients: RawClient[] = [];
    const dribbling: Promise<void>[] = [];
    // From four other addresses of the LAN (loopback has them all), 30 from each: under the
    // per-address limit (http.maxConnectionsPerAddress, 32), so these are served, not refused,
    // and the requests below from yet another address must get through beside them.
    const from = (i: number) => `127.0.0.${2 + (i % 4)}`;
    for (let i = 0; i < 40; i++) {
      // Slowloris: headers one byte every 50 ms, never finished within this test.
      const client = await connect(unit, from(i));
      clients.push(client);
      dribbling.push(dribble(client, `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${unit.port}\r\nX-Padding: ${'p'.repeat(200)}\r\n`, 50));
    }
    for (let i = 0; i < 40; i++) {
      // A body promised and never finished.
      const client = await connect(unit, from(i));
      clients.push(client);
      client.socket.write(`POST /api/users/register HTTP/1.1\r\nHost: 127.0.0.1:${unit.port}\r\n${sessionLines(unit)}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`);
    }
    for (let i = 0; i < 40; i++) clients.push(await connect(unit, from(i))); // connected, silent

    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) latencies.push(await timedHealth(unit));
    const register = await fetch(`${unit.baseUrl}/api/users/register`, { method: 'POST', headers: { ...unit.auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Kitchen' }) });
    t.is(register.status, 201);
    t.log(`/api/health with ${clients.length} slow clients connected: slowest ${Math.max(...latencies).toFixed(1)} ms`);
    t.true(Math.max(...latencies) < PROMPT_MS, `slowest /api/health ${Math.max(...latencies).toFixed(0)} ms`);
    t.true(
      clients.every((client) => !client.socket.destroyed && client.received() === ''),
      'the slow clients are still waiting, so the requests above were served beside them',
    );
    for (const client of clients) client.socket.destroy();
    await Promise.all(dribbling);
  });
});

test('oversized headers, URLs and malformed request lines get a 4xx with an API error body, and the server carries on', async (t) => {
  await withListeningUnit(async (unit) => {
    const cases: Array<[string, string]> = [
      ['a 100 KiB header', `GET /api/health HTTP/1.1\r\nHost: unit\r\nX-Big: ${'b'.repeat(100 * 1024)}\r\n\r\n`],
      ['a 100 KiB URL', `GET /api/health?${'q'.repeat(100 * 1024)} HTTP/1.1\r\nHost: unit\r\n\r\n`],
      ['ten thousand headers', `GET /api/health HTTP/1.1\r\nHost: unit\r\n${Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`],
      ['a garbage request line', 'HELLO THERE\r\n\r\n'],
      ['a bare LF request', 'GET /api/health HTTP/1.1\nHost: unit\n\n'],
      ['a header without a colon', 'GET /api/health HTTP/1.1\r\nHost: unit\r\nNoColonHere\r\n\r\n'],
      ['conflicting lengths', 'POST /api/users/register HTTP/1.1\r\nHost: unit\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"a":1}'],
      ['a bad chunk size', 'POST /api/users/register HTTP/1.1\r\nHost: unit\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
      ['a NUL in the URL', 'GET /api/health\0 HTTP/1.1\r\nHost: unit\r\n\r\n'],
      ['an unknown HTTP version', 'GET /api/health HTTP/9.9\r\nHost: unit\r\n\r\n'],
    ];
    const problems: string[] = [];
    for (const [what, request] of cases) {
      const client = await connect(unit);
      client.socket.write(request);
      const closedAfterMs = await Promise.race([client.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000))]);
      client.socket.destroy();
      const response = client.received();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0);
      const body = response.slice(response.indexOf('\r\n\r\n') + 4);
      t.log(`${what}: ${status || (closedAfterMs === null ? 'no answer within 5 s' : 'closed without an answer')} ${body.slice(0, 160)}`);
      let parsed: { error?: unknown; message?: unknown } = {};
      try {
        parsed = JSON.parse(body);
      } catch {
        // reported below
      }
      if (!(status >= 400 && status < 500)) problems.push(`${what}: status ${status || 'none'}`);
      else if (!(typeof parsed.error === 'string' && ERROR_NAME.test(parsed.error) && typeof parsed.message === 'string')) problems.push(`${what}: ${status} ${body.slice(0, 160)}`);
      const healthMs = await timedHealth(unit);
      if (healthMs >= PROMPT_MS) problems.push(`${what}: /api/health took ${healthMs.toFixed(0)} ms afterwards`);
    }
    t.deepEqual(problems, []);
  });
});

test('a client that stalls in its headers or its body is disconnected by the server within 30 s', async (t) => {
  await withListeningUnit(async (unit) => {
    const server = unit.app.server;
    const settings = {
      headersTimeout: server.headersTimeout,
      requestTimeout: server.requestTimeout,
      socketIdleTimeout: server.timeout,
      keepAliveTimeout: server.keepAliveTimeout,
      connectionsCheckingInterval: (server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval,
    };
    t.log(`server timeouts (ms, 0 = none): ${JSON.stringify(settings)}`);
    // The socket idle timeout fires exactly; Node enforces headersTimeout and requestTimeout on a
    // periodic check, so they may take one interval longer. What the settings promise, at the latest:
    const finite = (ms: number, slack = 0) => (ms > 0 ? ms + slack : Infinity);
    const byIdle = finite(settings.socketIdleTimeout);
    const byHeaders = finite(settings.headersTimeout, settings.connectionsCheckingInterval);
    const byRequest = finite(settings.requestTimeout, settings.connectionsCheckingInterval);
    const clients = [
      { label: 'stalled headers', promisedMs: Math.min(byIdle, byHeaders, byRequest), start: 'GET /api/health HTTP/1.1\r\nHost: unit\r\nX-Wait: ' },
      { label: 'stalled body', promisedMs: Math.min(byIdle, byRequest), start: `POST /api/users/register HTTP/1.1\r\nHost: unit\r\n${sessionLines(unit)}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na` },
      { label: 'silent connection', promisedMs: Math.min(byIdle, byHeaders, byRequest), start: '' },
    ];
    const unbounded = clients.filter((client) => client.promisedMs > STALLED_CLIENT_LIMIT_MS);
    if (unbounded.length > 0) {
      // No need to wait and see: these settings let such a client stay longer (or for ever).
      t.fail(
        unbounded
          .map((client) => `${client.label}: the server's settings keep it for ${Number.isFinite(client.promisedMs) ? `up to ${client.promisedMs / 1000} s` : 'ever'}`)
          .join('; ') + ` (limit ${STALLED_CLIENT_LIMIT_MS / 1000} s; settings ${JSON.stringify(settings)})`,
      );
      return;
    }
    const results = await Promise.all(
      clients.map(async (client) => {
        const raw = await connect(unit);
        t.teardown(() => raw.socket.destroy());
        if (client.start) raw.socket.write(client.start);
        const closedAfter = await Promise.race([raw.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), client.promisedMs + 2000))]);
        return { ...client, closedAfter };
      }),
    );
    for (const { label, promisedMs, closedAfter } of results) {
      t.log(`${label}: ${closedAfter === null ? 'still open' : `closed after ${(closedAfter / 1000).toFixed(1)} s`} (settings promise ${promisedMs / 1000} s)`);
      t.true(closedAfter !== null, `${label}: still connected ${(promisedMs + 2000) / 1000} s later`);
    }
  });
});
