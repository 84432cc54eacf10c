import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRequest } from '../../src/net/http-request.js';

/** A real HTTP server on a free port, closed after the test. */
async function server(t: { teardown(fn: () => Promise<void>): void }, handler: http.RequestListener): Promise<string> {
  const listening = http.createServer(handler);
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    listening.closeAllConnections();
    await new Promise((resolve) => listening.close(resolve));
  });
  return `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
}

test('a request carries its method, headers and body; the answer its status, headers and text', async (t) => {
  const base = await server(t, (request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      response.writeHead(201, { 'content-type': 'application/json', 'x-intercom-unit': 'unit-b' });
      response.end(JSON.stringify({ method: request.method, path: request.url, sender: request.headers['x-intercom-sender'], body }));
    });
  });
  const answer = await httpRequest(`${base}/api/unit/info`, { method: 'POST', headers: { 'x-intercom-sender': 'unit-a', 'content-type': 'application/json' }, body: '{"ü":1}', timeoutMs: 2_000 });
  t.is(answer.status, 201);
  t.true(answer.ok);
  t.is(answer.headers.get('X-Intercom-Unit'), 'unit-b');
  t.is(answer.headers.get('x-missing'), null);
  t.deepEqual(JSON.parse(answer.text), { method: 'POST', path: '/api/unit/info', sender: 'unit-a', body: '{"ü":1}' });
});

test('kept-alive connections serve one request after another, and a refusal is an answer', async (t) => {
  const connections = new Set<unknown>();
  const base = await server(t, (request, response) => {
    connections.add(request.socket);
    response.writeHead(request.url === '/gone' ? 404 : 200).end(request.url);
  });
  for (const path of ['/a', '/b', '/c']) t.is((await httpRequest(`${base}${path}`, { timeoutMs: 2_000 })).text, path);
  t.is(connections.size, 1, 'one connection for the three requests');
  const refused = await httpRequest(`${base}/gone`, { timeoutMs: 2_000 });
  t.is(refused.status, 404);
  t.false(refused.ok);
});

test('a peer that never answers, one that answers without end, and no peer at all each end in an error', async (t) => {
  const base = await server(t, (request, response) => {
    if (request.url === '/silent') return; // holds the request
    response.writeHead(200);
    const flood = setInterval(() => response.write(Buffer.alloc(64 * 1024, 0x61)), 1);
    response.on('close', () => clearInterval(flood));
  });
  await t.throwsAsync(httpRequest(`${base}/silent`, { timeoutMs: 300 }), { message: /no answer within 300 ms/ });
  await t.throwsAsync(httpRequest(`${base}/flood`, { timeoutMs: 10_000, maxAnswerBytes: 256 * 1024 }), { message: /longer than 262144 bytes/ });
  await t.throwsAsync(httpRequest('http://127.0.0.1:1/', { timeoutMs: 2_000 }), { message: /ECONNREFUSED/ });
  await t.throwsAsync(httpRequest('https://127.0.0.1/', { timeoutMs: 2_000 }), { message: /not an http: address/ });
});
