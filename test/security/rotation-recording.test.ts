import test from 'ava';
import { createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import http from 'node:http';
import { startUnit, api, connectUnits, type TestUnit } from '../support/unit-harness.js';
import { eventually } from '../support/eventually.js';
import { TEST_SITE_SECRET } from '../support/test-site.js';
import { signPeerRequest, verifyPeerAnswer } from '../../src/security/peer-auth.js';
import { generateSiteSecret } from '../../src/security/site-secret.js';

// The attack: Garage is removed from the site, and it holds the old secret. It records every byte
// of the rotation that shuts it out (here: every request and answer the units exchange, captured at
// the HTTP level). With the old secret and the recording it tries to recover the new secret: any
// secret-like value in the recording, and the sealed values opened under every key it can derive
// from the old secret and the public values. None of that is the new secret. The same search run
// on a naive handover (the new secret in a body signed with the old secret) finds it at once.

interface Exchange {
  url: string;
  method: string;
  requestHeaders: Record<string, string>;
  requestBody: string;
  status: number;
  answerHeaders: Record<string, string>;
  answerBody: string;
}

/** Everything a holder of the old secret can derive from a recording: the candidates for the new secret. */
function attackerCandidates(recording: Exchange[], oldSecret: string): Set<string> {
  const candidates = new Set<string>();
  const texts = recording.flatMap((exchange) => [exchange.requestBody, exchange.answerBody, ...Object.values(exchange.requestHeaders), ...Object.values(exchange.answerHeaders)]);
  // Every token that could be a secret, as sent.
  for (const text of texts) for (const token of text.match(/[A-Za-z0-9_-]{16,256}/g) ?? []) candidates.add(token);
  // Every sealed value opened under the keys derivable without a private X25519 value.
  const shares = texts.flatMap((text) => [...text.matchAll(/"keyShare":"([A-Za-z0-9_-]{43})"/g)].map((match) => match[1]!));
  const sealed = texts.flatMap((text) => [...text.matchAll(/"sealed":"([A-Za-z0-9_-]+)"/g)].map((match) => match[1]!));
  const keyMaterial: Buffer[] = [
    createHash('sha256').update(oldSecret).digest(),
    createHmac('sha256', oldSecret).update('pi-intercom site secret rotation salt v1').digest(),
    ...shares.map((share) => Buffer.from(hkdfSync('sha256', Buffer.from(share, 'base64url'), createHmac('sha256', oldSecret).update('pi-intercom site secret rotation salt v1').digest(), Buffer.alloc(0), 32))),
    Buffer.from(hkdfSync('sha256', Buffer.concat(shares.map((share) => Buffer.from(share, 'base64url'))), Buffer.from(oldSecret), Buffer.alloc(0), 32)),
  ];
  for (const value of sealed) {
    const bytes = Buffer.from(value, 'base64url');
    for (const key of keyMaterial) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.subarray(0, 32), bytes.subarray(0, 12));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        candidates.add(Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString('utf8'));
      } catch {
        // Not this key.
      }
    }
  }
  return candidates;
}

/**
 * Records every request the units send each other, and its answer, as they cross node:http (the
 * units' HTTP client, src/net/http-request.ts, asks it for each one).
 */
function recordRequests(t: { teardown(fn: () => void): void }): Exchange[] {
  const recording: Exchange[] = [];
  const realRequest = http.request;
  const recordingRequest = (url: URL, options: http.RequestOptions, onAnswer: (incoming: http.IncomingMessage) => void) => {
    const exchange: Exchange = {
      url: String(url),
      method: options.method ?? 'GET',
      requestHeaders: Object.fromEntries(Object.entries(options.headers ?? {}).map(([name, value]) => [name, String(value)])),
      requestBody: '',
      status: 0,
      answerHeaders: {},
      answerBody: '',
    };
    const outgoing = realRequest(url, options, (incoming) => {
      exchange.status = incoming.statusCode ?? 0;
      exchange.answerHeaders = Object.fromEntries(Object.entries(incoming.headers).map(([name, value]) => [name, String(value)]));
      incoming.on('data', (chunk: Buffer) => (exchange.answerBody += chunk.toString('utf8')));
      incoming.on('end', () => recording.push(exchange));
      onAnswer(incoming);
    });
    const end = outgoing.end.bind(outgoing) as (body?: string) => http.ClientRequest;
    outgoing.end = ((body?: string) => {
      if (typeof body === 'string') exchange.requestBody = body;
      return end(body);
    }) as typeof outgoing.end;
    return outgoing;
  };
  http.request = recordingRequest as unknown as typeof http.request;
  t.teardown(() => {
    http.request = realRequest;
  });
  return recording;
}

async function site(t: { teardown(fn: () => Promise<void>): void }): Promise<TestUnit[]> {
  const units = await Promise.all(['Hall', 'Garage', 'Kitchen'].map((name) => startUnit(name)));
  t.teardown(async () => {
    await Promise.all(units.map((unit) => unit.close()));
  });
  await connectUnits(...units);
  await eventually('Hall knows both others', async () => units[0]!.unit.directory.peers().length === 2);
  return units;
}

// Serial: the recording patches node:http's request, which the other test's requests (rotation
// steps of its own) would go through too, and be counted as this rotation's (3 or 6 instead of 2).
test.serial('a recording of the rotation plus the old secret does not reveal the new secret (a naive handover would)', async (t) => {
  const [hall, garage, kitchen] = await site(t);
  const recording = recordRequests(t);
  const removed = await api(hall, 'POST', '/api/site/remove', { unitId: garage!.unit.unitId });
  t.is(removed.status, 200, JSON.stringify(removed.body));
  t.is(removed.body.rotated.length, 1);
  const newSecret = hall!.unit.site.currentSecret();
  t.not(newSecret, TEST_SITE_SECRET);
  t.is(kitchen!.unit.site.currentSecret(), newSecret);

  const rotation = recording.filter((exchange) => exchange.url.includes('/api/unit/site/rotation'));
  t.is(rotation.length, 2, 'step 1 and step 2 to Kitchen; nothing to Garage');
  t.false(rotation.some((exchange) => exchange.url.includes(`:${garage!.port}/`)));
  // The recorded exchange is authentic for a holder of the old secret: it can check every answer.
  for (const exchange of rotation) {
    const url = new URL(exchange.url);
    const check = verifyPeerAnswer(TEST_SITE_SECRET, hall!.unit.unitId, {
      request: { method: 'POST', authority: url.host, path: url.pathname, body: exchange.requestBody, receiver: kitchen!.unit.unitId, headers: exchange.requestHeaders },
      status: exchange.status,
      headers: { get: (name) => exchange.answerHeaders[name] ?? null },
      body: exchange.answerBody,
    });
    t.true(check.ok, `the recorded answer to ${url.pathname} verifies with the old secret`);
  }
  const candidates = attackerCandidates(recording, TEST_SITE_SECRET);
  t.true(candidates.size > 10, 'the attacker had material to work on');
  t.false(candidates.has(newSecret), 'the new secret is not in the recording, nor opened by any key the old secret gives');
  t.false(recording.some((exchange) => exchange.requestBody.includes(newSecret) || exchange.answerBody.includes(newSecret)));

  // Control: a naive handover (the new secret in a body signed with the old one) is read at once.
  const naiveSecret = generateSiteSecret();
  const naiveBody = JSON.stringify({ rotationId: 'AAAAAAAAAAAAAAAAAAAAAA', secret: naiveSecret });
  const naive: Exchange = {
    url: `${kitchen!.baseUrl}/api/unit/site/rotation/commit`,
    method: 'POST',
    requestHeaders: signPeerRequest({ method: 'POST', authority: `127.0.0.1:${kitchen!.port}`, path: '/api/unit/site/rotation/commit', body: naiveBody, receiver: kitchen!.unit.unitId }, { secret: TEST_SITE_SECRET, unitId: hall!.unit.unitId }),
    requestBody: naiveBody,
    status: 200,
    answerHeaders: {},
    answerBody: '{}',
  };
  t.true(attackerCandidates([naive], TEST_SITE_SECRET).has(naiveSecret), 'the same search recovers a naively sent secret');

  // And Garage, holding the old secret, is refused by both from now on.
  for (const unit of [hall!, kitchen!]) {
    const headers = signPeerRequest({ method: 'GET', authority: `127.0.0.1:${unit.port}`, path: '/api/unit/info', body: '', receiver: unit.unit.unitId }, { secret: TEST_SITE_SECRET, unitId: garage!.unit.unitId });
    t.is((await fetch(`${unit.baseUrl}/api/unit/info`, { headers })).status, 401);
  }
});

test.serial('a commit without its step 1, from another unit, or sealed for another handover is refused and changes nothing', async (t) => {
  const [hall, garage, kitchen] = await site(t);
  const post = async (from: TestUnit, path: string, payload: unknown) => {
    const body = JSON.stringify(payload);
    const headers = signPeerRequest({ method: 'POST', authority: `127.0.0.1:${kitchen!.port}`, path, body, receiver: kitchen!.unit.unitId }, { secret: TEST_SITE_SECRET, unitId: from.unit.unitId });
    const response = await fetch(`${kitchen!.baseUrl}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
    return { status: response.status, body: (await response.json()) as { error?: string; keyShare?: string } };
  };
  const removed = { unitId: garage!.unit.unitId, name: 'Garage' };
  const sealed = Buffer.alloc(64, 7).toString('base64url');
  // No step 1.
  const orphan = await post(hall!, '/api/unit/site/rotation/commit', { rotationId: 'BBBBBBBBBBBBBBBBBBBBBB', sealed, removed, needsRejoining: [] });
  t.is(orphan.status, 404);
  // Step 1 by Hall, step 2 by Garage (who also holds the old secret).
  const { RotationKeyShare } = await import('../../src/security/secret-rotation.js');
  const share = new RotationKeyShare();
  const offer = await post(hall!, '/api/unit/site/rotation', { rotationId: 'CCCCCCCCCCCCCCCCCCCCCC', keyShare: share.publicValue, removed });
  t.is(offer.status, 200);
  const hijack = await post(garage!, '/api/unit/site/rotation/commit', { rotationId: 'CCCCCCCCCCCCCCCCCCCCCC', sealed, removed: { unitId: hall!.unit.unitId, name: 'Hall' }, needsRejoining: [] });
  t.is(hijack.status, 404);
  // A unit asked to take part in its own removal refuses.
  const own = await post(hall!, '/api/unit/site/rotation', { rotationId: 'DDDDDDDDDDDDDDDDDDDDDD', keyShare: share.publicValue, removed: { unitId: kitchen!.unit.unitId, name: 'Kitchen' } });
  t.is(own.status, 409);
  t.is(own.body.error, 'removed');
  t.is(kitchen!.unit.site.currentSecret(), TEST_SITE_SECRET, 'Kitchen still has the old secret');
});
