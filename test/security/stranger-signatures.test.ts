import test from 'ava';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { launchUnit, TEST_SITE_SECRET } from '../support/unit-process.js';

// Units used to sign every answer to a request that carried a nonce, also answers to strangers:
// a 401 (or a 400, 413, 415) over a nonce the stranger chose, with the unit's time, signed with
// the site secret. A stranger that is asked something by a unit of the site (it announced itself
// as a peer) could fetch such an answer for that unit's own nonce from another unit and hand it
// back as its own: the asking unit took the other unit's time as the stranger's, and its requests
// went out stamped on the wrong clock. Now nothing a stranger chooses is ever signed, and an
// answer counts only when it names the unit asked and answers exactly the request sent.

const NONCE = 'nonce-chosen-by-the-stranger-0001';
const SENDER = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One raw HTTP request (the stranger is not bound by what fetch() allows). */
function send(port: number, options: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, method: options.method, path: options.path, headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

test.serial("a unit signs nothing a stranger chose: its refusals of unauthenticated requests carry no signature and no time", async (t) => {
  t.timeout(120_000);
  const unit = await launchUnit(t, { name: 'B', readyTimeoutMs: 90_000 });
  const identity = { 'x-intercom-unit-id': SENDER, 'x-intercom-nonce': NONCE, 'x-intercom-timestamp': String(Date.now()) };
  const attempts: { name: string; method: string; path: string; headers: Record<string, string>; body?: string }[] = [
    { name: 'no signature', method: 'GET', path: '/api/unit/info', headers: identity },
    { name: 'a v1 signature', method: 'GET', path: '/api/unit/info', headers: { ...identity, 'x-intercom-signature': `v1=${'0'.repeat(64)}` } },
    { name: 'a v2 signature', method: 'GET', path: '/api/unit/info', headers: { ...identity, 'x-intercom-to': '*', 'x-intercom-signature': `v2=${'0'.repeat(64)}` } },
    { name: 'bad JSON', method: 'POST', path: '/api/unit/calls', headers: { ...identity, 'content-type': 'application/json' }, body: '{"callId":' },
    { name: 'another media type', method: 'POST', path: '/api/unit/calls', headers: { ...identity, 'content-type': 'text/xml' }, body: '<offer/>' },
    { name: 'too large', method: 'POST', path: '/api/unit/calls', headers: { ...identity, 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(20_000) }) },
    { name: 'no such route', method: 'GET', path: '/api/unit/secrets', headers: identity },
  ];
  const signed: string[] = [];
  for (const attempt of attempts) {
    const answer = await send(unit.httpPort, attempt);
    t.true(answer.status >= 400 && answer.status < 500, `${attempt.name}: ${answer.status}`);
    const signature = answer.headers['x-intercom-response-signature'];
    const time = answer.headers['x-intercom-time'];
    if (signature !== undefined || time !== undefined) signed.push(`${attempt.name} (${answer.status}): signature ${signature}, time ${time}`);
  }
  t.deepEqual(signed, [], 'no answer to a stranger carries a signature or the unit\'s time');
  t.true((await unit.api('GET', '/api/status')).body.security.peerRequests.rejected >= 3);
});

test.serial('a stranger that hands a unit of the site answers it fetched from another unit moves nothing', async (t) => {
  t.timeout(120_000);
  const { PeerClient } = await import('../../src/peers/peer-client.js');
  const { createPeerClientAuth } = await import('../../src/security/peer-auth.js');
  const { PeerClockOffsets } = await import('../../src/security/peer-clock-sync.js');
  const unit = await launchUnit(t, { name: 'B', readyTimeoutMs: 90_000 });

  // The stranger, polled by a unit of the site: for each request it gets, it asks B the same
  // (its own Host rewritten to B's address, as a relay would) and, with the asking unit's nonce, an
  // unsigned request; it answers with whatever B answered that carries a signature.
  const harvested: string[] = [];
  const stranger = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const body = Buffer.concat(chunks);
      const headers = Object.fromEntries(Object.entries(request.headers).filter(([, value]) => typeof value === 'string')) as Record<string, string>;
      const forwarded = await send(unit.httpPort, { method: request.method!, path: request.url!, headers: { ...headers, host: `127.0.0.1:${unit.httpPort}` }, body });
      const unsigned = await send(unit.httpPort, {
        method: 'GET',
        path: '/api/unit/info',
        headers: { 'x-intercom-unit-id': headers['x-intercom-unit-id'] ?? SENDER, 'x-intercom-nonce': headers['x-intercom-nonce'] ?? NONCE, 'x-intercom-timestamp': '1' },
      });
      const best = [forwarded, unsigned].find((answer) => answer.headers['x-intercom-response-signature'] !== undefined) ?? forwarded;
      harvested.push(`${forwarded.status}/${unsigned.status}`);
      response.writeHead(best.status, best.headers);
      response.end(best.body);
    });
  });
  stranger.listen(0, '127.0.0.1');
  await once(stranger, 'listening');
  t.teardown(() => {
    stranger.closeAllConnections();
    return new Promise<void>((resolve) => stranger.close(() => resolve()));
  });

  const offsets = new PeerClockOffsets();
  const client = new PeerClient({ unitId: 'cccccccc-0000-4000-8000-000000000000', timeoutMs: 5000, auth: createPeerClientAuth({ secret: TEST_SITE_SECRET, unitId: 'cccccccc-0000-4000-8000-000000000000' }), clockSync: offsets });
  const strangerUrl = `http://127.0.0.1:${(stranger.address() as AddressInfo).port}`;
  const bId = (await unit.api('GET', '/api/status')).body.unit.id as string;
  for (const expected of [null, bId]) {
    const result = await client.info(strangerUrl, expected);
    t.is(result.kind, 'unreachable', `addressed to ${expected ?? 'anyone'}: ${JSON.stringify(result)}`);
  }
  t.log(`B answered the stranger's copies: ${harvested.join(', ')}`);
  t.is(offsets.known(bId), null, "no clock was learnt from the stranger's answers");
  // B itself, asked directly, is reachable and its clock known.
  const direct = await client.info(unit.baseUrl, bId);
  t.is(direct.kind, 'ok');
  t.not(offsets.known(bId), null);
});
